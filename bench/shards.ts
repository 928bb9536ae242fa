/**
 * One queue over several Redis Cluster masters (option `shards`): starts a private 3-master cluster
 * (no replicas), then per round and for `shards: 1` and `shards: 3` in turn: adds a backlog of
 * BENCH_SHARDS_JOBS (40,000) no-op jobs (addBulk, chunks of 1,000) from this process, and times 2 worker
 * processes (concurrency 16 each) working it off. Per master it reads INFO commandstats and INFO cpu
 * around each phase: commands per master (are they even?) and Redis CPU per job (what a master costs).
 * Medians over BENCH_SHARDS_ROUNDS rounds. Not part of `npm run bench` (it needs its own cluster):
 * `npm run bench:shards`. Prints JSON; the README's Redis Cluster section has the figures.
 */
import { Cluster } from 'ioredis';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ChildHandle } from './child-handle';
import { addBacklog, waitCompleted } from './context';
import { cpuBusy } from './machine';
import { createQueueApp } from './queue-app';
import { startRedisCluster } from './redis-cluster';
import { RedisProbe } from './redis-probe';
import { CONCURRENCY } from './scenarios/compare';
import { rate } from './stats';

const JOBS = Number(process.env.BENCH_SHARDS_JOBS ?? 40_000);
/** counts() of a sharded queue is a script call per shard: polled sparingly, so the polls cost little. */
const POLL_MS = 25;
const ROUNDS = Number(process.env.BENCH_SHARDS_ROUNDS ?? 3);
const WORKERS = 2;
/** USER_HZ: the unit of /proc/<pid>/stat times (100 on Linux). */
const CLOCK_TICKS = 100;
/** BENCH_SHARDS_MASTERS=1 is the control: the same shards on one server, so what sharding itself costs shows apart from running 3 servers. */
const MASTERS = Number(process.env.BENCH_SHARDS_MASTERS ?? 3);
const TIMEOUT_MS = 120_000;

/** One master's deltas over a phase. */
interface MasterCost {
  port: number;
  /** Every command the server ran (those inside scripts included). */
  commands: number;
  /** Script calls (fcall + evalsha + eval). */
  scripts: number;
  cpuUsPerJob: number;
  /** Time inside scripts per job (INFO commandstats usec of fcall/evalsha/eval), µs: most of the rest of the CPU is I/O and the event loop. */
  scriptUsPerJob: number;
}

interface PhaseResult {
  jobsPerSec: number;
  /** CPU of the worker processes together per job (user + sys, /proc/<pid>/stat), µs. */
  workerCpuUsPerJob: number;
  masters: MasterCost[];
  /** Redis CPU of all masters together per job, µs. */
  cpuUsPerJob: number;
  /** Largest deviation of a master's command count from the masters' mean (0.1 = ±10 %), among masters that ran any. */
  commandSpread: number;
}

interface RoundResult {
  shards: number;
  add: PhaseResult;
  process: PhaseResult;
}

const log = (message: string) => process.stderr.write(`bench:shards: ${message}\n`);

/** Everything must be over by then, whatever hangs: exit kills the children and the servers. */
const HARD_TIMEOUT_MS = 900_000;

async function main(): Promise<void> {
  setTimeout(() => {
    log(`hard timeout after ${HARD_TIMEOUT_MS / 1000} s: stopping`);
    process.exit(2);
  }, HARD_TIMEOUT_MS).unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const load = { before: loadavg().map((v) => Math.round(v * 100) / 100), cpuBusyBefore: await cpuBusy() };
  log(`load average ${load.before.join(' ')}, CPU busy ${Math.round(load.cpuBusyBefore * 100)} % before start`);
  const cluster = await startRedisCluster(MASTERS);
  const probes = cluster.seeds.map(({ host, port }) => ({ port, probe: new RedisProbe(host, port) }));
  const rounds: RoundResult[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating order, so a burst of load from elsewhere hits both layouts alike.
      for (const shards of round % 2 === 0 ? [1, 3] : [3, 1]) {
        const result = await measure(cluster.seeds, probes, shards, `r${round}s${shards}`);
        log(
          `round ${round + 1}, shards ${shards}: ${result.process.jobsPerSec} jobs/s, ${result.process.cpuUsPerJob} µs Redis CPU/job, ` +
            `commands per master ${result.process.masters.map((m) => m.commands).join(' / ')}`,
        );
        rounds.push(result);
        await Promise.all(probes.map(({ probe }) => probe.flush()));
      }
    }
  } finally {
    await Promise.all(probes.map(({ probe }) => probe.close()));
    await cluster.stop();
  }
  const summary = Object.fromEntries(
    [1, 3].map((shards) => {
      const of = rounds.filter((r) => r.shards === shards);
      const cpu = median(of.map((r) => r.add.cpuUsPerJob + r.process.cpuUsPerJob));
      return [
        `shards${shards}`,
        {
          addJobsPerSec: median(of.map((r) => r.add.jobsPerSec)),
          processJobsPerSec: median(of.map((r) => r.process.jobsPerSec)),
          processRedisCpuUsPerJob: median(of.map((r) => r.process.cpuUsPerJob)),
          processWorkerCpuUsPerJob: median(of.map((r) => r.process.workerCpuUsPerJob)),
          processScriptUsPerJob: median(
            of.map((r) => round(r.process.masters.reduce((sum, m) => sum + m.scriptUsPerJob, 0))),
          ),
          addRedisCpuUsPerJob: median(of.map((r) => r.add.cpuUsPerJob)),
          // A job's whole life (add + claim + complete), all masters together.
          redisCpuUsPerJob: round(cpu),
          // What one master's core can carry of that when the clients are not the bottleneck.
          jobsPerSecPerMasterCore: Math.round(1e6 / cpu),
          processCommandsPerJob: median(
            of.map((r) => round(r.process.masters.reduce((sum, m) => sum + m.commands, 0) / JOBS)),
          ),
          processCommandSpread: median(of.map((r) => r.process.commandSpread)),
          addCommandSpread: median(of.map((r) => r.add.commandSpread)),
        },
      ];
    }),
  );
  const after = loadavg().map((v) => Math.round(v * 100) / 100);
  console.log(
    JSON.stringify(
      {
        jobs: JOBS,
        workers: WORKERS,
        concurrency: CONCURRENCY,
        masters: MASTERS,
        load: { ...load, after },
        summary,
        rounds,
      },
      null,
      2,
    ),
  );
}

/** One round of one layout: backlog added, then worked off by the worker processes. */
async function measure(
  seeds: Array<{ host: string; port: number }>,
  probes: Array<{ port: number; probe: RedisProbe }>,
  shards: number,
  prefix: string,
): Promise<RoundResult> {
  const client = new Cluster(seeds, { redisOptions: { connectionName: 'bench-producer' } });
  const producer = await createQueueApp({ redis: client, prefix, module: { shards } });
  const children: ChildHandle[] = [];
  try {
    for (let i = 0; i < WORKERS; i++) {
      const redis = { connectionName: `bench-worker${i}` };
      children.push(
        await ChildHandle.start({ redis, cluster: seeds, shards, prefix, handlers: { noop: CONCURRENCY } }),
      );
    }
    const workers = children.map((child) => child.pid);
    const add = await phase(probes, workers, async () => {
      const t0 = performance.now();
      await addBacklog(producer.jobs, 'noop', JOBS);
      return performance.now() - t0;
    });
    const processed = await phase(probes, workers, async () => {
      const t0 = performance.now();
      for (const child of children) child.send({ type: 'open-gate' });
      return (await waitCompleted(producer.jobs, JOBS, TIMEOUT_MS, POLL_MS)) - t0;
    });
    return { shards, add, process: processed };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    await producer.close();
    client.disconnect();
  }
}

/** Runs `work` (returning its duration, ms) between two readings of every master's stats and the workers' CPU. */
async function phase(
  probes: Array<{ port: number; probe: RedisProbe }>,
  workers: number[],
  work: () => Promise<number>,
): Promise<PhaseResult> {
  const read = () =>
    Promise.all(
      probes.map(async ({ port, probe }) => ({
        port,
        cpu: await probe.cpuSeconds(),
        stats: await probe.commandStats(),
      })),
    );
  const before = await read();
  const workersBefore = workers.map(processCpuUs);
  const ms = await work();
  const workerCpuUsPerJob = round(
    workers.reduce((sum, pid, i) => sum + processCpuUs(pid) - workersBefore[i], 0) / JOBS,
  );
  const after = await read();
  const masters = after.map(({ port, cpu, stats }, i) => {
    const calls = (name: string) => (stats[name]?.calls ?? 0) - (before[i].stats[name]?.calls ?? 0);
    const usec = (name: string) => (stats[name]?.usec ?? 0) - (before[i].stats[name]?.usec ?? 0);
    // The probes' own INFO calls are not the queue's.
    const commands = Object.keys(stats).reduce((sum, name) => sum + (name === 'info' ? 0 : calls(name)), 0);
    return {
      port,
      commands,
      scripts: calls('fcall') + calls('evalsha') + calls('eval'),
      cpuUsPerJob: round(((cpu - before[i].cpu) * 1e6) / JOBS),
      scriptUsPerJob: round((usec('fcall') + usec('evalsha') + usec('eval')) / JOBS),
    };
  });
  const busy = masters.filter((m) => m.scripts > 0);
  const mean = busy.reduce((sum, m) => sum + m.commands, 0) / (busy.length || 1);
  const commandSpread = round(Math.max(...busy.map((m) => Math.abs(m.commands - mean) / mean)));
  return {
    jobsPerSec: rate(JOBS, ms),
    workerCpuUsPerJob,
    masters,
    cpuUsPerJob: round(masters.reduce((sum, m) => sum + m.cpuUsPerJob, 0)),
    commandSpread,
  };
}

/** User + system CPU of a process so far, µs (Linux: fields 14 and 15 of /proc/<pid>/stat, in clock ticks). */
function processCpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
