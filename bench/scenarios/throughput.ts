import { performance } from 'node:perf_hooks';
import { ChildHandle } from '../child-handle';
import { CONCURRENCY } from './compare';
import { BenchContext, addBacklog, redisOptions, waitCompleted } from '../context';
import { Gate, createQueueApp } from '../queue-app';
import { profiled } from '../profile';
import { ServerCost, measureCost } from '../redis-probe';
import { rate } from '../stats';

export interface ThroughputResult {
  backend: 'memory' | 'redis';
  processes: number;
  concurrency: number;
  jobs: number;
  /** Building the backlog with addBulk (chunks of 1,000). */
  addBulkJobsPerSec: number;
  ms: number;
  jobsPerSec: number;
  /** Redis server CPU (user+sys) per job: for addBulk, for processing, and both. */
  redisCpuUsPerJob?: { add?: number; process?: number; total?: number };
  /** Redis commands per job while processing (inside scripts included; fcall or evalsha = script calls). */
  redisCommandsPerJob?: Record<string, number>;
  /** Redis time per job by command while processing, µs (a script's time includes its commands). */
  redisCommandUsPerJob?: Record<string, number>;
  /** CPU of the worker process per job while processing (when the worker is this process). */
  workerCpuUsPerJob?: number;
}

const TIMEOUT_MS = 90_000;

/**
 * The in-memory backend's ceiling (no Redis): pre-adds `ctx.jobs` no-op jobs, then times from opening
 * the gate to `completed` reaching the count. Handlers park on a gate while the backlog is built (the
 * in-memory store lives in the app, so the worker must boot first; at most `concurrency` jobs are
 * claimed early).
 */
export async function throughputInMemory(ctx: BenchContext): Promise<ThroughputResult> {
  const gate = new Gate();
  const n = ctx.jobs;
  const queue = await createQueueApp({
    prefix: 'tp1memory',
    handlers: {
      noop: {
        concurrency: CONCURRENCY,
        async run() {
          if (!gate.isOpen) await gate.wait();
        },
      },
    },
  });
  try {
    const add = await measureCost(undefined, n, () => timed(() => addBacklog(queue.jobs, 'noop', n)));
    const run = await profiled('throughput-memory', () =>
      measureCost(undefined, n, async () => {
        const t0 = performance.now();
        gate.open();
        return (await waitCompleted(queue.jobs, n, TIMEOUT_MS)) - t0;
      }),
    );
    return throughputResult('memory', 1, n, add, run, true);
  } finally {
    gate.open();
    await queue.close();
  }
}

/** The same with `processes` worker processes (children) sharing the Redis queue. */
export async function throughputMultiProcess(ctx: BenchContext, processes: number): Promise<ThroughputResult> {
  const n = ctx.jobs;
  const prefix = `tp${processes}`;
  const producer = await createQueueApp({ redis: redisOptions(ctx, 'bench-producer'), prefix });
  const children: ChildHandle[] = [];
  try {
    const started = await Promise.allSettled(
      Array.from({ length: processes }, (_, i) =>
        ChildHandle.start({ redis: redisOptions(ctx, `bench-worker${i}`)!, prefix, handlers: { noop: CONCURRENCY } }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') children.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;

    const add = await measureCost(ctx.probe, n, () => timed(() => addBacklog(producer.jobs, 'noop', n)));
    const run = await measureCost(ctx.probe, n, async () => {
      const t0 = performance.now();
      for (const child of children) child.send({ type: 'open-gate' });
      return (await waitCompleted(producer.jobs, n, TIMEOUT_MS)) - t0;
    });
    return throughputResult('redis', processes, n, add, run, false);
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    await producer.close();
  }
}

/** Duration of `work` in ms. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

/** Assembles a result from the add phase (value: ms) and the processing phase (value: ms). */
function throughputResult(
  backend: 'memory' | 'redis',
  processes: number,
  jobs: number,
  add: ServerCost<number>,
  run: ServerCost<number>,
  workerIsThisProcess: boolean,
): ThroughputResult {
  const result: ThroughputResult = {
    backend,
    processes,
    concurrency: CONCURRENCY,
    jobs,
    addBulkJobsPerSec: rate(jobs, add.value),
    ms: Math.round(run.value),
    jobsPerSec: rate(jobs, run.value),
  };
  if (run.cpuUsPerJob !== undefined) {
    const total = Math.round(((add.cpuUsPerJob ?? 0) + run.cpuUsPerJob) * 100) / 100;
    result.redisCpuUsPerJob = { add: add.cpuUsPerJob, process: run.cpuUsPerJob, total };
    result.redisCommandsPerJob = run.commandsPerJob;
    result.redisCommandUsPerJob = run.commandUsPerJob;
  }
  if (workerIsThisProcess) result.workerCpuUsPerJob = run.processCpuUsPerJob;
  return result;
}
