import { performance } from 'node:perf_hooks';
import { now, sleep, withTimeout } from '../clock';
import type { BenchContext } from '../context';
import { profiled } from '../profile';
import type { BenchData, Peer, PeerProducer } from '../peers/peer';
import { CostMeter, ServerCost } from '../redis-probe';
import { rate, summarize } from '../stats';

/** Sizes of one comparison round (smaller with --quick). */
export interface CompareSizes {
  /** Backlog of the concurrency-16 and add+process runs. */
  jobs: number;
  /** Backlog of the concurrency-1 run. */
  jobsC1: number;
  /** add() one at a time: this many, or `sequentialMs`, whichever comes first. */
  sequentialMax: number;
  sequentialMs: number;
  /** add() 64 in flight. */
  inFlightJobs: number;
  /** Samples of each latency figure (after a warm-up of a tenth as many). */
  latencySamples: number;
}

/** One round of every figure for one peer: flat, so medians over rounds are one line per figure. */
export type RoundFigures = Partial<Record<FigureKey, number>>;

/** Per-command Redis calls and time (µs) per job of the processing and add runs, for profiling. */
export type RoundCommands = Partial<
  Record<
    'c16' | 'c1' | 'addSequential' | 'addInFlight',
    { calls?: Record<string, number>; usec?: Record<string, number> }
  >
>;

export interface RoundResult {
  figures: RoundFigures;
  commands: RoundCommands;
}

export type FigureKey =
  | 'processC16'
  | 'processC1'
  | 'addProcessC16'
  | 'addSequential'
  | 'addInFlight'
  | 'startP50'
  | 'startP99'
  | 'seenP50'
  | 'seenP99'
  | 'addCommands'
  | 'addScripts'
  | 'addRedisUsSequential'
  | 'addRedisUsInFlight'
  | 'addProducerUs'
  | 'c16RedisUs'
  | 'c16WorkerUs'
  | 'c16Commands'
  | 'c16Scripts'
  | 'c1RedisUs'
  | 'c1WorkerUs'
  | 'c1Commands'
  | 'c1Scripts'
  | 'addProcessRedisUs'
  | 'cancelP50'
  | 'cancelP99';

export const CONCURRENCY = 16;
const IN_FLIGHT = 64;
const TIMEOUT_MS = 120_000;
const GAP_MS = 2;

/**
 * Every side-by-side figure for one peer, each on a fresh queue name (Redis is emptied between
 * them by `flush`). Producer and worker run in this process on separate connections; the worker
 * is this process, so its CPU is this process's CPU while only it works.
 */
export async function compareRound(
  ctx: BenchContext,
  peer: Peer,
  sizes: CompareSizes,
  flush: () => Promise<void>,
  tag: string,
): Promise<RoundResult> {
  const figures: RoundFigures = {};
  const commands: RoundCommands = {};
  const queue = (what: string) => `cmp-${peer.id}-${what}-${tag}`;
  const step = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (err) {
      throw new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await flush();
    }
  };

  await step('c16', async () => {
    const run = await processBacklog(ctx, peer, queue('c16'), sizes.jobs, CONCURRENCY);
    figures.processC16 = rate(sizes.jobs, run.value);
    Object.assign(figures, costFigures('c16', run));
    commands.c16 = { calls: run.commandsPerJob, usec: run.commandUsPerJob };
  });
  await step('c1', async () => {
    const run = await processBacklog(ctx, peer, queue('c1'), sizes.jobsC1, 1);
    figures.processC1 = rate(sizes.jobsC1, run.value);
    Object.assign(figures, costFigures('c1', run));
    commands.c1 = { calls: run.commandsPerJob, usec: run.commandUsPerJob };
  });
  await step('add+process', async () => {
    const run = await addWhileProcessing(ctx, peer, queue('ap'), sizes.jobs);
    figures.addProcessC16 = rate(sizes.jobs, run.value);
    figures.addProcessRedisUs = run.cpuUsPerJob;
  });
  await step('add', async () => {
    const producer = await peer.producer(queue('add'));
    try {
      for (let i = 0; i < 200; i++) await producer.add({ i }); // warm-up: connections, scripts, JIT
      const sequential = await profiled(`${peer.id}-add-sequential`, () =>
        measureAdds(ctx, producer, (add) => addSequentially(add, sizes.sequentialMax, sizes.sequentialMs)),
      );
      const inFlight = await profiled(`${peer.id}-add-in-flight`, () =>
        measureAdds(ctx, producer, (add) => addInFlight(add, sizes.inFlightJobs)),
      );
      figures.addSequential = sequential.rate;
      figures.addInFlight = inFlight.rate;
      figures.addCommands = totalCommands(sequential.cost.commandsPerJob);
      figures.addScripts = scriptCalls(sequential.cost.commandsPerJob);
      figures.addRedisUsSequential = sequential.cost.cpuUsPerJob;
      figures.addRedisUsInFlight = inFlight.cost.cpuUsPerJob;
      figures.addProducerUs = inFlight.cost.processCpuUsPerJob;
      commands.addSequential = { calls: sequential.cost.commandsPerJob, usec: sequential.cost.commandUsPerJob };
      commands.addInFlight = { calls: inFlight.cost.commandsPerJob, usec: inFlight.cost.commandUsPerJob };
    } finally {
      await producer.close();
    }
  });
  await step(
    'latency',
    async () => void Object.assign(figures, await latencies(peer, queue('lat'), sizes.latencySamples)),
  );
  return { figures, commands };
}

/**
 * Pre-adds `jobs` with addBulk, then starts a worker: timed from its first handler start (so its
 * boot is not counted; a worker that can boot paused would make this a `resume()`) until Redis
 * acknowledged the last completion.
 */
async function processBacklog(
  ctx: BenchContext,
  peer: Peer,
  queue: string,
  jobs: number,
  concurrency: number,
): Promise<ServerCost<number>> {
  const producer = await peer.producer(queue);
  try {
    for (let done = 0; done < jobs; done += 1_000) {
      await producer.addBulk(Array.from({ length: Math.min(1_000, jobs - done) }, (_, k) => ({ i: done + k })));
    }
    // With BENCH_PROFILE=1 the worker's boot is in the profile too (a small, separate subtree).
    return await profiled(`${peer.id}-process-c${concurrency}`, async () => {
      let meter: CostMeter | undefined;
      let t0 = 0;
      const worker = await peer.worker(queue, concurrency, () => {
        if (meter) return;
        t0 = performance.now();
        meter = new CostMeter(ctx.probe);
      });
      try {
        await worker.completed(jobs, TIMEOUT_MS);
        const ms = performance.now() - t0;
        return { value: ms, ...(await meter!.stop(jobs)) };
      } finally {
        await worker.close();
      }
    });
  } finally {
    await producer.close();
  }
}

/** An idle worker (concurrency 16), then `jobs` add() calls 64 in flight: first add → last completion. */
async function addWhileProcessing(
  ctx: BenchContext,
  peer: Peer,
  queue: string,
  jobs: number,
): Promise<ServerCost<number>> {
  const producer = await peer.producer(queue);
  const worker = await peer.worker(queue, CONCURRENCY, () => undefined);
  try {
    const meter = new CostMeter(ctx.probe);
    await meter.started;
    const t0 = performance.now();
    await addInFlight((i) => producer.add({ i }), jobs);
    await worker.completed(jobs, TIMEOUT_MS);
    const ms = performance.now() - t0;
    return { value: ms, ...(await meter.stop(jobs)) };
  } finally {
    await worker.close();
    await producer.close();
  }
}

type Add = (i: number) => Promise<unknown>;

async function measureAdds(
  ctx: BenchContext,
  producer: PeerProducer,
  run: (add: Add) => Promise<number>,
): Promise<{ rate: number; cost: Omit<ServerCost<never>, 'value'> }> {
  const meter = new CostMeter(ctx.probe);
  await meter.started;
  const t0 = performance.now();
  const count = await run((i) => producer.add({ i }));
  const ms = performance.now() - t0;
  return { rate: rate(count, ms), cost: await meter.stop(count) };
}

/** add() awaited one by one, as a web request does. Returns how many. */
async function addSequentially(add: Add, max: number, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let count = 0;
  while (count < max && performance.now() < until) await add(count++);
  return count;
}

/** `jobs` add() calls with 64 in flight. */
async function addInFlight(add: Add, jobs: number): Promise<number> {
  let next = 0;
  const lane = async () => {
    while (next < jobs) await add(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return jobs;
}

/**
 * One job at a time into an idle worker (concurrency 16): add() call → handler start, and
 * add() call → the producer sees it completed. A 2 ms pause after each lets the worker go idle.
 */
async function latencies(peer: Peer, queue: string, samples: number): Promise<RoundFigures> {
  const warmup = Math.ceil(samples / 10);
  const started = new Map<number, (at: number) => void>();
  const producer = await peer.producer(queue);
  const worker = await peer.worker(queue, CONCURRENCY, (data: BenchData) => started.get(data.i)?.(now()));
  try {
    const toStart: number[] = [];
    const toSeen: number[] = [];
    let i = 0;
    for (let k = 0; k < warmup + samples; k++, i++) {
      const start = new Promise<number>((resolve) => started.set(i, resolve));
      const t0 = now();
      await producer.add({ i });
      const at = await withTimeout(start, 5_000, `handler start of job ${i}`);
      started.delete(i);
      if (k >= warmup) toStart.push(at - t0);
      await sleep(GAP_MS);
    }
    for (let k = 0; k < warmup + samples; k++, i++) {
      const t0 = now();
      await withTimeout(producer.addAndWait({ i }), 5_000, `completion of job ${i}`);
      if (k >= warmup) toSeen.push(now() - t0);
      await sleep(GAP_MS);
    }
    const start = summarize(toStart);
    const seen = summarize(toSeen);
    return { startP50: start.p50, startP99: start.p99, seenP50: seen.p50, seenP99: seen.p99 };
  } finally {
    await worker.close();
    await producer.close();
  }
}

function costFigures(prefix: 'c16' | 'c1', run: ServerCost<number>): RoundFigures {
  return {
    [`${prefix}RedisUs`]: run.cpuUsPerJob,
    [`${prefix}WorkerUs`]: run.processCpuUsPerJob,
    [`${prefix}Commands`]: totalCommands(run.commandsPerJob),
    [`${prefix}Scripts`]: scriptCalls(run.commandsPerJob),
  };
}

/** Every command Redis ran per job, those inside scripts included (commandstats). */
function totalCommands(perJob?: Record<string, number>): number | undefined {
  return perJob && round(Object.values(perJob).reduce((sum, n) => sum + n, 0));
}

function scriptCalls(perJob?: Record<string, number>): number | undefined {
  return perJob && round((perJob.evalsha ?? 0) + (perJob.eval ?? 0) + (perJob.fcall ?? 0));
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
