/**
 * `npm run bench [-- --quick | --only=... | --peers=... | --rounds=N]`: starts a private redis-server,
 * measures this library side by side with BullMQ and bee-queue (when installed: `npm run
 * bench:install`) through each one's public API, medians of several rounds, then this library's own
 * extra figures; prints the tables and writes bench/results.json. See bench/README.md.
 */
import 'reflect-metadata';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ChildHandle } from './child-handle';
import type { BenchContext } from './context';
import { redisOptions } from './context';
import { cpuBusy } from './machine';
import { BenchOptions, Step, parseOptions } from './options';
import { loadPeers } from './peers/load-peers';
import { createQueueApp } from './queue-app';
import { RedisProbe } from './redis-probe';
import { startRedisServer, type BenchRedis } from './redis-server';
import { BenchResults, printReport } from './report';
import { baseline } from './scenarios/baseline';
import { cancelLatency } from './scenarios/cancel-latency';
import { CompareSizes, compareRound } from './scenarios/compare';
import { emitLatency } from './scenarios/emit-latency';
import { pickupLatency } from './scenarios/pickup-latency';
import { openSubscriptions } from './scenarios/subscriptions';
import { throughputInMemory, throughputMultiProcess } from './scenarios/throughput';

/** Everything must be over by then, whatever hangs: exit kills the children and the server. */
const HARD_TIMEOUT_MS = 900_000;
const RESULTS_FILE = join(__dirname, 'results.json');
/** Runs one measurement; a failure is recorded and the bench goes on. Redis is emptied after it unless told not to. */
type StepRunner = (id: string, work: () => Promise<void>, opts?: { flush?: boolean }) => Promise<void>;

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const hard = setTimeout(() => {
    log(`hard timeout after ${HARD_TIMEOUT_MS / 1000} s: stopping`);
    process.exit(2);
  }, HARD_TIMEOUT_MS);
  hard.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

  const redisBackendExists = existsSync(join(__dirname, '..', 'lib', 'backends', 'redis', 'redis.backend.ts'));
  const memoryOnly = options.memoryOnly || !redisBackendExists;
  const wants = (step: Step) => options.steps.has(step) && (!memoryOnly || step === 'memory');

  const results: BenchResults = {
    meta: {
      startedAt: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      options: { ...options, steps: [...options.steps], peers: [...options.peers] },
      cpuBusyBeforeStart: await cpuBusy(),
    },
    extras: {},
    errors: {},
  };
  if (!redisBackendExists) log('lib/backends/redis/redis.backend.ts not found: running the in-memory scenario only');

  let server: BenchRedis | undefined;
  let probe: RedisProbe | undefined;
  try {
    if (!memoryOnly) {
      server = await startRedisServer();
      probe = new RedisProbe(server.host, server.port);
      const version = await probe.version();
      results.meta.redis = { version, port: server.port };
      log(`private redis-server ${version} on port ${server.port}`);
    }
    const ctx: BenchContext = {
      redis: server && { host: server.host, port: server.port },
      probe,
      jobs: options.jobs,
      log,
    };
    const flush = async () => void (await probe?.flush().catch(() => undefined));
    const step: StepRunner = async (id, work, { flush: flushAfter = true } = {}) => {
      log(`${id} ...`);
      const t0 = Date.now();
      try {
        await work();
        log(`${id} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        results.errors[id] = err instanceof Error ? err.message : String(err);
        log(`${id} FAILED: ${results.errors[id]}`);
      } finally {
        if (flushAfter) await flush();
      }
    };

    if (wants('compare')) await compare(ctx, options, results, step, flush);
    const x = results.extras;
    if (wants('baseline')) await step('baseline (plain ioredis)', async () => void (x.baseline = await baseline(ctx)));
    if (wants('memory'))
      await step('throughput, in-memory', async () => void (x.throughputMemory = await throughputInMemory(ctx)));
    if (wants('throughput2'))
      await step(
        'throughput, 2 processes',
        async () => void (x.throughput2Processes = await throughputMultiProcess(ctx, 2)),
      );
    if (wants('cross')) await crossProcess(ctx, results, step);
    if (wants('subs'))
      await step('open subscriptions', async () => void (x.subscriptions = await openSubscriptions(ctx)));
  } finally {
    await probe?.close();
    await server?.stop();
  }

  results.meta.finishedAt = new Date().toISOString();
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
  console.log('');
  printReport(results, (line) => console.log(line));
  console.log(`\nresults: ${RESULTS_FILE}`);
}

/** The side-by-side rounds; the peers' order rotates each round so drift on a busy machine spreads evenly. */
async function compare(
  ctx: BenchContext,
  options: BenchOptions,
  results: BenchResults,
  step: StepRunner,
  flush: () => Promise<void>,
): Promise<void> {
  const { peers, notes } = loadPeers(ctx.redis!, options.peers);
  for (const note of notes) log(note);
  const sizes: CompareSizes = options.quick
    ? {
        jobs: options.jobs,
        jobsC1: Math.ceil(options.jobs / 4),
        sequentialMax: 2_000,
        sequentialMs: 1_000,
        inFlightJobs: 5_000,
        latencySamples: 200,
      }
    : {
        jobs: options.jobs,
        jobsC1: Math.ceil(options.jobs / 4),
        sequentialMax: 5_000,
        sequentialMs: 3_000,
        inFlightJobs: 10_000,
        latencySamples: 1_000,
      };
  const compared: NonNullable<BenchResults['compare']> = {
    peers: peers.map(({ id, label }) => ({ id, label })),
    sizes,
    rounds: [],
    commands: [],
    notes,
  };
  results.compare = compared;
  for (let round = 0; round < options.rounds; round++) {
    const figures: (typeof compared.rounds)[number] = {};
    compared.rounds.push(figures);
    compared.commands.push({});
    const order = peers.map((_, k) => peers[(k + round) % peers.length]);
    for (const peer of order) {
      await step(`round ${round + 1}/${options.rounds}: ${peer.label}`, async () => {
        const result = await compareRound(ctx, peer, sizes, flush, `r${round}`);
        figures[peer.id] = result.figures;
        compared.commands[round][peer.id] = result.commands;
      });
    }
    if (options.peers.has('ours')) {
      await step(`round ${round + 1}/${options.rounds}: cross-process cancel`, async () => {
        const cancel = await oursCancel(ctx);
        figures.ours = { ...figures.ours, cancelP50: cancel.p50, cancelP99: cancel.p99 };
      });
    }
  }
}

/** cancel() here → `signal.aborted` in a worker child process. */
async function oursCancel(ctx: BenchContext): Promise<{ p50: number; p99: number }> {
  const producer = await createQueueApp({ redis: redisOptions(ctx, 'bench-producer'), prefix: 'cancel' });
  let child: ChildHandle | undefined;
  try {
    child = await ChildHandle.start({
      redis: redisOptions(ctx, 'bench-worker')!,
      prefix: 'cancel',
      handlers: { hold: 16 },
    });
    return (await cancelLatency(producer.jobs, child)).cancelToAborted;
  } finally {
    await child?.stop();
    await producer.close();
  }
}

/** add→start and emit→subscriber latency of this library across processes: one worker child, one producer here. */
async function crossProcess(ctx: BenchContext, results: BenchResults, step: StepRunner): Promise<void> {
  await step('cross-process latency', async () => {
    let child: ChildHandle | undefined;
    const producer = await createQueueApp({ redis: redisOptions(ctx, 'bench-producer'), prefix: 'cross' });
    try {
      child = await ChildHandle.start({
        redis: redisOptions(ctx, 'bench-worker')!,
        prefix: 'cross',
        handlers: { probe: 4, emitter: 4 },
      });
      ctx.log(`worker child pid ${child.pid}, clock offset ${child.offsetMs.toFixed(3)} ms`);
      const c = child;
      const keep = { flush: false }; // the apps are still running on these keys
      await step(
        'add→start latency',
        async () => void (results.extras.pickupLatency = await pickupLatency(producer.jobs, c)),
        keep,
      );
      await step(
        'emit→subscriber latency',
        async () => void (results.extras.emitLatency = await emitLatency(producer.jobs, c)),
        keep,
      );
    } finally {
      await child?.stop();
      await producer.close();
    }
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
