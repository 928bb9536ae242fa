import { withTimeout } from '../clock';
import { Counter, OnStart, Peer, PeerProducer, PeerWorker, RedisAddress } from './peer';

/** The slice of bee-queue's API used here, typed locally so the bench compiles without it installed. */
interface BeeJob {
  id: string;
  data: unknown;
  save(): Promise<BeeJob>;
  once(event: 'succeeded' | 'failed', listener: () => void): void;
}
interface BeeQueue {
  createJob(data: unknown): BeeJob;
  saveAll(jobs: BeeJob[]): Promise<Map<BeeJob, Error>>;
  process(concurrency: number, handler: (job: BeeJob) => Promise<unknown>): void;
  ready(): Promise<unknown>;
  on(event: 'succeeded', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): Promise<void>;
}
export type BeeQueueModule = new (name: string, settings: object) => BeeQueue;

/**
 * bee-queue with its defaults (events on, jobs stored): a producer `Queue` with `isWorker: false`
 * (what a web process uses; it still gets job events), a worker `Queue` whose local 'succeeded'
 * event (emitted once Redis acknowledged) counts completions.
 */
export function beeQueuePeer(Queue: BeeQueueModule, version: string, redis: RedisAddress): Peer {
  return {
    id: 'bee',
    label: `bee-queue ${version}`,
    async producer(queue): Promise<PeerProducer> {
      const q = new Queue(queue, { redis: { ...redis }, isWorker: false });
      q.on('error', () => undefined);
      await q.ready();
      return {
        add: async (data) => (await q.createJob(data).save()).id,
        async addBulk(data) {
          const errors = await q.saveAll(data.map((d) => q.createJob(d)));
          if (errors.size > 0) throw [...errors.values()][0];
        },
        async addAndWait(data) {
          const job = q.createJob(data);
          // Listen before saving: a fast worker can finish the job before save() resolves here.
          const done = new Promise<void>((resolve) => job.once('succeeded', resolve));
          await job.save();
          await done;
        },
        close: () => q.close(),
      };
    },
    async worker(queue, concurrency, onStart: OnStart): Promise<PeerWorker> {
      const q = new Queue(queue, { redis: { ...redis } });
      q.on('error', () => undefined);
      const completions = new Counter();
      q.on('succeeded', () => completions.increment());
      await q.ready();
      q.process(concurrency, async (job) => {
        onStart(job.data as { i: number });
      });
      return {
        completed: (count, timeoutMs) =>
          withTimeout(completions.reach(count), timeoutMs, `${count} bee-queue completions`),
        close: () => q.close(),
      };
    },
  };
}
