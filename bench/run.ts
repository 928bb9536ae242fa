/**
 * `npm run bench`: starts a private redis-server, runs every scenario against the public API of the
 * library (and BullMQ for reference when installed), prints a table and writes bench/results.json.
 *
 * Env: BENCH_JOBS (throughput backlog, default 20000), BENCH_CONCURRENCY (default 16),
 * BENCH_SUBSCRIPTIONS (default 10000), BENCH_ONLY (comma list of step ids, see
 * STEPS), BENCH_MEMORY=1 (in-memory backend only, no Redis), BENCH_VERBOSE=1 (children's stderr),
 * BENCH_PROFILE=1 (CPU profiles of the in-process throughput and add runs to bench/profiles/).
 */
import 'reflect-metadata';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ChildHandle } from './child-handle';
import type { BenchContext } from './context';
import { redisOptions } from './context';
import { loadBullMQ, runBullMQ } from './bullmq';
import { cpuBusy } from './machine';
import { createQueueApp } from './queue-app';
import { RedisProbe } from './redis-probe';
import { startRedisServer, type BenchRedis } from './redis-server';
import { BenchResults, budgetChecks, printReport } from './report';
import { addThroughput } from './scenarios/add';
import { baseline } from './scenarios/baseline';
import { cancelLatency } from './scenarios/cancel-latency';
import { emitLatency } from './scenarios/emit-latency';
import { pickupLatency } from './scenarios/pickup-latency';
import { openSubscriptions } from './scenarios/subscriptions';
import { throughputInProcess, throughputMultiProcess } from './scenarios/throughput';

/** Everything must be over by then, whatever hangs: exit kills the children and the server. */
const HARD_TIMEOUT_MS = 300_000;
const RESULTS_FILE = join(__dirname, 'results.json');
const STEPS = ['baseline', 'memory', 'throughput', 'throughput2', 'add', 'cross', 'subs', 'bullmq'] as const;
type Step = (typeof STEPS)[number];
/** Runs one measurement; a failure is recorded and the bench goes on. Redis is emptied after it unless told not to. */
type StepRunner = (id: string, work: () => Promise<void>, opts?: { flush?: boolean }) => Promise<void>;

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);

async function main(): Promise<void> {
  const hard = setTimeout(() => {
    log(`hard timeout after ${HARD_TIMEOUT_MS / 1000} s: stopping`);
    process.exit(2);
  }, HARD_TIMEOUT_MS);
  hard.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

  const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : undefined;
  const redisBackendExists = existsSync(join(__dirname, '..', 'lib', 'backends', 'redis', 'redis.backend.ts'));
  const memoryOnly = process.env.BENCH_MEMORY === '1' || !redisBackendExists;
  const wants = (step: Step) => (!only || only.has(step)) && (!memoryOnly || step === 'memory' || step === 'add');
  const jobs = Number(process.env.BENCH_JOBS ?? 20_000);

  const results: BenchResults = {
    meta: { startedAt: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, jobs, memoryOnly, cpuBusyBeforeStart: await cpuBusy() },
    library: {},
    checks: [],
    errors: {},
  };
  if (!redisBackendExists) log('lib/backends/redis/redis.backend.ts not found: running the in-memory scenarios only');

  let server: BenchRedis | undefined;
  let probe: RedisProbe | undefined;
  try {
    if (!memoryOnly) {
      server = await startRedisServer();
      probe = new RedisProbe(server.host, server.port);
      results.meta.redis = { version: await probe.version(), port: server.port };
      log(`private redis-server ${results.meta.redis && (results.meta.redis as { version: string }).version} on port ${server.port}`);
    }
    const ctx: BenchContext = { redis: server && { host: server.host, port: server.port }, probe, jobs, log };
    const step: StepRunner = async (id, work, { flush = true } = {}) => {
      log(`${id} ...`);
      const t0 = Date.now();
      try {
        await work();
        log(`${id} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        results.errors[id] = err instanceof Error ? err.message : String(err);
        log(`${id} FAILED: ${results.errors[id]}`);
      } finally {
        if (flush) await probe?.flush().catch(() => undefined);
      }
    };

    if (wants('baseline')) await step('baseline (plain ioredis)', async () => void (results.baseline = await baseline(ctx)));
    if (wants('memory')) await step('throughput, in-memory', async () => void (results.library.throughputMemory = await throughputInProcess(ctx, 'memory')));
    if (wants('throughput')) await step('throughput, 1 process', async () => void (results.library.throughput = await throughputInProcess(ctx, 'redis')));
    if (wants('throughput2')) await step('throughput, 2 processes', async () => void (results.library.throughput2Processes = await throughputMultiProcess(ctx, 2)));
    if (wants('add')) await step('add()', async () => void (results.library.add = await addThroughput(ctx)));
    if (wants('cross')) await crossProcess(ctx, results, step);
    if (wants('subs')) await step('open subscriptions', async () => void (results.library.subscriptions = await openSubscriptions(ctx)));
    if (wants('bullmq')) {
      const bull = loadBullMQ();
      if (!bull) results.bullmq = { skipped: 'bullmq not installed — npm install --no-save bullmq@6.7.0 to compare' };
      else await step(`BullMQ ${bull.version}`, async () => void (results.bullmq = await runBullMQ(ctx, bull)));
    }
  } finally {
    await probe?.close();
    await server?.stop();
  }

  results.meta.finishedAt = new Date().toISOString();
  // The budget is about the Redis backend.
  if (!memoryOnly) results.checks = budgetChecks(results);
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
  console.log('');
  printReport(results, (line) => console.log(line));
  console.log(`\nresults: ${RESULTS_FILE}`);
}

/** add→start, cancel→abort and emit→subscriber latency: one worker child, one producer here. */
async function crossProcess(ctx: BenchContext, results: BenchResults, step: StepRunner): Promise<void> {
  await step('cross-process latency', async () => {
    let child: ChildHandle | undefined;
    const producer = await createQueueApp({ redis: redisOptions(ctx, 'bench-producer'), prefix: 'cross' });
    try {
      child = await ChildHandle.start({ redis: redisOptions(ctx, 'bench-worker')!, prefix: 'cross', handlers: { probe: 4, hold: 16, emitter: 4 } });
      ctx.log(`worker child pid ${child.pid}, clock offset ${child.offsetMs.toFixed(3)} ms`);
      const c = child;
      const keep = { flush: false }; // the apps are still running on these keys
      await step('add→start latency', async () => void (results.library.pickupLatency = await pickupLatency(producer.jobs, c)), keep);
      await step('cancel→aborted latency', async () => void (results.library.cancelLatency = await cancelLatency(producer.jobs, c)), keep);
      await step('emit→subscriber latency', async () => void (results.library.emitLatency = await emitLatency(producer.jobs, c)), keep);
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
