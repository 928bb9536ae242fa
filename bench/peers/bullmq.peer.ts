import { withTimeout } from '../clock';
import { Counter, OnStart, Peer, PeerProducer, PeerWorker, RedisAddress } from './peer';

/** The slice of BullMQ's API used here, typed locally so the bench compiles without BullMQ installed. */
interface BullJob {
  id?: string;
  data: unknown;
  waitUntilFinished(events: BullQueueEvents): Promise<unknown>;
}
interface BullQueue {
  add(name: string, data: unknown): Promise<BullJob>;
  addBulk(jobs: Array<{ name: string; data: unknown }>): Promise<unknown>;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}
interface BullQueueEvents {
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}
interface BullWorker {
  waitUntilReady(): Promise<unknown>;
  on(event: 'completed', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): Promise<void>;
}
export interface BullMQModule {
  Queue: new (name: string, opts: object) => BullQueue;
  QueueEvents: new (name: string, opts: object) => BullQueueEvents;
  Worker: new (name: string, processor: (job: BullJob) => Promise<unknown>, opts: object) => BullWorker;
}

const NAME = 'bench';

/**
 * BullMQ with its defaults: `Queue` to add, `Worker` to process (completion counted on its
 * 'completed' event, emitted once Redis acknowledged), `QueueEvents` + `waitUntilFinished` to see a
 * completion from the producer side (opened on first use, as a web process would keep one).
 */
export function bullmqPeer(lib: BullMQModule, version: string, redis: RedisAddress): Peer {
  return {
    id: 'bullmq',
    label: `BullMQ ${version}`,
    async producer(queue): Promise<PeerProducer> {
      const q = new lib.Queue(queue, { connection: { ...redis } });
      await q.waitUntilReady();
      let events: Promise<BullQueueEvents> | undefined;
      const openEvents = async () => {
        const e = new lib.QueueEvents(queue, { connection: { ...redis } });
        await e.waitUntilReady();
        return e;
      };
      return {
        add: async (data) => (await q.add(NAME, data)).id!,
        addBulk: async (data) => void (await q.addBulk(data.map((d) => ({ name: NAME, data: d })))),
        async addAndWait(data) {
          events ??= openEvents();
          const ready = await events;
          await (await q.add(NAME, data)).waitUntilFinished(ready);
        },
        async close() {
          await (await events)?.close();
          await q.close();
        },
      };
    },
    async worker(queue, concurrency, onStart: OnStart): Promise<PeerWorker> {
      const completions = new Counter();
      const worker = new lib.Worker(
        queue,
        async (job) => {
          onStart(job.data as { i: number });
        },
        { connection: { ...redis, maxRetriesPerRequest: null }, concurrency },
      );
      worker.on('completed', () => completions.increment());
      worker.on('error', () => undefined);
      await worker.waitUntilReady();
      return {
        completed: (count, timeoutMs) =>
          withTimeout(completions.reach(count), timeoutMs, `${count} BullMQ completions`),
        close: () => worker.close(),
      };
    },
  };
}
