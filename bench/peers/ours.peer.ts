import { withTimeout, waitUntil } from '../clock';
import { createQueueApp } from '../queue-app';
import { Counter, OnStart, Peer, PeerProducer, PeerWorker, RedisAddress } from './peer';

const NAME = 'bench';

/**
 * This library through its public API: a Nest app with `JobQueueModule.forRoot` (library defaults)
 * per producer and per worker, so they use separate connections like two processes would.
 */
export function oursPeer(redis: RedisAddress): Peer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const version = (require('../../package.json') as { version: string }).version;
  return {
    id: 'ours',
    label: `nestjs-job-queue ${version}`,
    async producer(queue): Promise<PeerProducer> {
      const app = await createQueueApp({ redis: { ...redis, connectionName: `${queue}-producer` }, prefix: queue });
      return {
        add: async (data) => (await app.jobs.add(NAME, data)).id,
        addBulk: async (data) => void (await app.jobs.addBulk(data.map((d) => ({ name: NAME, data: d })))),
        addAndWait: async (data) => void (await app.jobs.waitFor((await app.jobs.add(NAME, data)).id)),
        close: () => app.close(),
      };
    },
    async worker(queue, concurrency, onStart: OnStart): Promise<PeerWorker> {
      // No public completion hook yet (@OnJobEvent comes with the operations issue): count handler
      // starts, then read counts() until Redis acknowledged every completion (a few reads at the end).
      const starts = new Counter();
      const app = await createQueueApp({
        redis: { ...redis, connectionName: `${queue}-worker` },
        prefix: queue,
        handlers: {
          [NAME]: {
            concurrency,
            async run(job) {
              onStart(job.data);
              starts.increment();
            },
          },
        },
      });
      return {
        async completed(count, timeoutMs) {
          await withTimeout(starts.reach(count), timeoutMs, `${count} handler starts`);
          await waitUntil(
            async () => (await app.jobs.counts()).completed >= count,
            timeoutMs,
            `${count} completions`,
            1,
          );
        },
        close: () => app.close(),
      };
    },
  };
}
