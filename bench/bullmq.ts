/**
 * The same throughput, add and Redis-CPU measurements with BullMQ (plain Queue/Worker), for
 * reference. BullMQ is optional: without it this section is skipped (npm install --no-save bullmq@6.7.0 to compare).
 */
import { performance } from 'node:perf_hooks';
import { sleep } from './clock';
import type { BenchContext } from './context';
import { measureCost } from './redis-probe';
import { AddResult, measureAdds } from './scenarios/add';
import { CONCURRENCY, ThroughputResult, throughputResult, timed } from './scenarios/throughput';

/** The slice of BullMQ's API the bench uses (typed locally so the bench compiles without bullmq). */
interface BullQueue {
  add(name: string, data: unknown): Promise<unknown>;
  addBulk(jobs: Array<{ name: string; data: unknown }>): Promise<unknown>;
  getCompletedCount(): Promise<number>;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}
interface BullWorker {
  run(): Promise<void>;
  waitUntilReady(): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): Promise<void>;
}
interface BullMQ {
  Queue: new (name: string, opts: object) => BullQueue;
  Worker: new (name: string, processor: () => Promise<unknown>, opts: object) => BullWorker;
}

export interface BullMQResult {
  version: string;
  throughput: ThroughputResult;
  add: AddResult;
}


/** BullMQ when it resolves from here, else undefined. */
export function loadBullMQ(): { lib: BullMQ; version: string } | undefined {
  try {
    require.resolve('bullmq');
  } catch {
    return undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return { lib: require('bullmq') as BullMQ, version: (require('bullmq/package.json') as { version: string }).version };
}

export async function runBullMQ(ctx: BenchContext, bull: { lib: BullMQ; version: string }): Promise<BullMQResult> {
  const connection = { host: ctx.redis!.host, port: ctx.redis!.port };
  return {
    version: bull.version,
    throughput: await throughput(ctx, bull.lib, connection),
    add: await add(ctx, bull.lib, connection),
  };
}

async function throughput(ctx: BenchContext, { Queue, Worker }: BullMQ, connection: object): Promise<ThroughputResult> {
  const n = ctx.jobs;
  const queue = new Queue('bench-tp', { connection });
  let worker: BullWorker | undefined;
  try {
    await queue.waitUntilReady();
    const added = await measureCost(ctx.probe, n, () =>
      timed(async () => {
        for (let done = 0; done < n; done += 1_000) {
          const size = Math.min(1_000, n - done);
          await queue.addBulk(Array.from({ length: size }, (_, i) => ({ name: 'noop', data: { i: done + i } })));
        }
      }),
    );
    worker = new Worker('bench-tp', async () => undefined, {
      connection: { ...connection, maxRetriesPerRequest: null },
      concurrency: CONCURRENCY,
      autorun: false,
    });
    worker.on('error', () => undefined);
    await worker.waitUntilReady();
    const w = worker;
    const run = await measureCost(ctx.probe, n, async () => {
      const t0 = performance.now();
      void w.run().catch(() => undefined);
      const deadline = Date.now() + 90_000;
      while ((await queue.getCompletedCount()) < n) {
        if (Date.now() > deadline) throw new Error('BullMQ did not complete the backlog within 90 s');
        await sleep(10);
      }
      return performance.now() - t0;
    });
    return throughputResult('redis', 1, n, added, run, true);
  } finally {
    await worker?.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
  }
}

async function add(ctx: BenchContext, { Queue }: BullMQ, connection: object): Promise<AddResult> {
  const queue = new Queue('bench-add', { connection });
  try {
    await queue.waitUntilReady();
    return await measureAdds(ctx, (i) => queue.add('sink', { i }));
  } finally {
    await queue.close().catch(() => undefined);
  }
}
