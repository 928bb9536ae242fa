import { performance } from 'node:perf_hooks';
import { BenchContext, redisOptions } from '../context';
import { createQueueApp } from '../queue-app';
import { profiled } from '../profile';
import { measureCost } from '../redis-probe';
import { rate } from '../stats';

export interface AddRun {
  jobs: number;
  ms: number;
  jobsPerSec: number;
  redisCpuUsPerJob?: number;
  /** Redis commands per add (inside scripts included). */
  redisCommandsPerJob?: Record<string, number>;
  /** CPU of the adding process per add (client-side overhead). */
  producerCpuUsPerJob: number;
}

export interface AddResult {
  sequential: AddRun;
  inFlight50: AddRun;
}

/** Sequential adds stop at this many or after this long, whichever comes first. */
const SEQUENTIAL_MAX = 5_000;
const SEQUENTIAL_MS = 3_000;
const IN_FLIGHT = 50;
const IN_FLIGHT_JOBS = 10_000;

/** Individual `add()` calls (no handler anywhere: nothing is processed), awaited one by one and 50 at a time. */
export async function addThroughput(ctx: BenchContext): Promise<AddResult> {
  const queue = await createQueueApp({ redis: redisOptions(ctx, 'bench-add'), prefix: 'add' });
  try {
    return await profiled('add', () => measureAdds(ctx, (i) => queue.jobs.add('sink', { i })));
  } finally {
    await queue.close();
  }
}

/** The add measurements for any queue's single-job add (also used for BullMQ). */
export async function measureAdds(ctx: Pick<BenchContext, 'probe'>, add: (i: number) => Promise<unknown>): Promise<AddResult> {
  // Warm-up: connection, script cache, JIT.
  for (let i = 0; i < 200; i++) await add(i);
  const sequential = await timed(ctx, async () => {
    const until = performance.now() + SEQUENTIAL_MS;
    let count = 0;
    while (count < SEQUENTIAL_MAX && performance.now() < until) await add(count++);
    return count;
  });
  const inFlight50 = await timed(ctx, async () => {
    let next = 0;
    const lane = async () => {
      while (next < IN_FLIGHT_JOBS) await add(next++);
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    return IN_FLIGHT_JOBS;
  });
  return { sequential, inFlight50 };
}

/** Runs `work` (which returns how many jobs it added) and reports its rate and costs. */
async function timed(ctx: Pick<BenchContext, 'probe'>, work: () => Promise<number>): Promise<AddRun> {
  let jobs = 0;
  const cost = await measureCost(ctx.probe, 1, async () => {
    const t0 = performance.now();
    jobs = await work();
    return performance.now() - t0;
  });
  const perJob = (total: number) => Math.round((total * 100) / jobs) / 100;
  return {
    jobs,
    ms: Math.round(cost.value),
    jobsPerSec: rate(jobs, cost.value),
    ...(cost.cpuUsPerJob !== undefined && { redisCpuUsPerJob: perJob(cost.cpuUsPerJob) }),
    ...(cost.commandsPerJob && { redisCommandsPerJob: Object.fromEntries(Object.entries(cost.commandsPerJob).map(([k, v]) => [k, perJob(v)])) }),
    producerCpuUsPerJob: perJob(cost.processCpuUsPerJob),
  };
}
