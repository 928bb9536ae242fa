import { RedisBackend } from '../lib/backends/redis/redis.backend';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { normalizeAddOptions } from '../lib/validation/job-input.validator';
import type { JobEvent } from '../lib';
import { describeJobQueueContract } from './contract/job-queue.contract';
import { Deferred, eventually } from './support/deferred';
import { RedisClusterHandle, startRedisCluster } from './support/redis-cluster';

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

// The user's own ioredis Cluster instance as option `redis`: the module duplicates it and never
// closes it. A fresh prefix per application, as on a single server.
let apps = 0;
const freshPrefix = () => `${cluster.prefix}-${++apps}`;
describeJobQueueContract('redis cluster', () => ({ redis: cluster.client, prefix: freshPrefix() }));

describe('RedisBackend on a Redis Cluster', () => {
  it('reconnects its plain node connections (event reader, blocking waiter) after they drop', async () => {
    const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
    const backend = new RedisBackend(resolveJobQueueOptions({ redis: cluster.client, prefix: freshPrefix() }), logger);
    await backend.start();
    try {
      const newJob = (name: string) => ({ id: `${name}-${++apps}`, name, dataJson: '{}', opts: normalizeAddOptions({}), createdAt: Date.now() });
      const [job] = await backend.add([newJob('drop')]);
      const events: JobEvent[] = [];
      const arrived = new Map<number, Deferred<void>>([[1, new Deferred()], [2, new Deferred()]]);
      backend.subscribe(job.id, '0', {
        next: (batch) => {
          events.push(...batch);
          arrived.get(events.length)?.resolve();
        },
        error: (err) => arrived.get(2)?.reject(err),
      });
      await arrived.get(1)!.promise;
      const idle = backend.waitForWork(['drop-next'], Date.now() + 60_000);

      // Cut both plain node connections (the Cluster's own clients reconnect by themselves), once
      // the blocking one is open too (it is created by the wait, asynchronously).
      const ids = await eventually(async (): Promise<string[] | false> => {
        const found = String(await cluster.client.call('CLIENT', 'LIST'))
          .split('\n')
          .filter((line) => /name=job-queue:(reader|blocking)\b/.test(line))
          .map((line) => /\bid=(\d+)/.exec(line)![1]);
        return found.length === 2 && found;
      });
      for (const id of ids || []) await cluster.client.call('CLIENT', 'KILL', 'ID', id);

      // The waiter comes back (and wakes on an add); the reader resubscribes and delivers again.
      await idle;
      const wake = backend.waitForWork(['drop-next'], Date.now() + 60_000);
      await backend.add([newJob('drop-next')]);
      await wake;
      expect(await backend.cancel(job.id, 'after-drop', 'test')).toBe('cancelled');
      await arrived.get(2)!.promise;
      expect(events.map((e) => e.type)).toEqual(['queued', 'cancelled']);
    } finally {
      await backend.close();
    }
  });
});
