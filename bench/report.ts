import type { BullMQResult } from './bullmq';
import type { AddResult } from './scenarios/add';
import type { BaselineResult } from './scenarios/baseline';
import type { CancelLatencyResult } from './scenarios/cancel-latency';
import type { EmitLatencyResult } from './scenarios/emit-latency';
import type { PickupLatencyResult } from './scenarios/pickup-latency';
import type { SubscriptionsResult } from './scenarios/subscriptions';
import type { ThroughputResult } from './scenarios/throughput';

export interface BenchResults {
  meta: Record<string, unknown>;
  /** Plain ioredis on the same server: the floor under the library's latencies. */
  baseline?: BaselineResult;
  library: {
    throughputMemory?: ThroughputResult;
    throughput?: ThroughputResult;
    throughput2Processes?: ThroughputResult;
    add?: AddResult;
    pickupLatency?: PickupLatencyResult;
    cancelLatency?: CancelLatencyResult;
    emitLatency?: EmitLatencyResult;
    subscriptions?: SubscriptionsResult;
  };
  bullmq?: BullMQResult | { skipped: string };
  checks: Check[];
  errors: Record<string, string>;
}

/** One line of DESIGN.md's performance budget. */
export interface Check {
  metric: string;
  value: number;
  target: string;
  pass: boolean;
}

/** Reference numbers from DESIGN.md, used when BullMQ is not installed. */
const DESIGN_BULLMQ = { throughput: 7_500, add: 5_000 };

export function budgetChecks(r: BenchResults): Check[] {
  const lib = r.library;
  const bull = r.bullmq && 'version' in r.bullmq ? r.bullmq : undefined;
  const checks: Check[] = [];
  const check = (metric: string, value: number | undefined, target: string, pass: (v: number) => boolean) => {
    if (value !== undefined && Number.isFinite(value)) checks.push({ metric, value, target, pass: pass(value) });
  };
  const vs = (what: string, bullValue: number | undefined, fallback: number) =>
    bullValue !== undefined ? { ref: bullValue, label: `${what} BullMQ ${bull!.version} (${bullValue})` } : { ref: fallback, label: `${what} DESIGN's BullMQ (${fallback})` };

  const tp = vs('≥ 3×', bull?.throughput.jobsPerSec, DESIGN_BULLMQ.throughput);
  check(`throughput c=${lib.throughput?.concurrency}, 1 process (jobs/s)`, lib.throughput?.jobsPerSec, tp.label, (v) => v >= 3 * tp.ref);
  const seq = vs('≥ 2×', bull?.add.sequential.jobsPerSec, DESIGN_BULLMQ.add);
  check('add() sequential (jobs/s)', lib.add?.sequential.jobsPerSec, seq.label, (v) => v >= 2 * seq.ref);
  const par = vs('≥ 2×', bull?.add.inFlight50.jobsPerSec, DESIGN_BULLMQ.add);
  check('add() 50 in flight (jobs/s)', lib.add?.inFlight50.jobsPerSec, par.label, (v) => v >= 2 * par.ref);
  check('add→start p50 (ms)', lib.pickupLatency?.addToStart.p50, '≤ 0.8', (v) => v <= 0.8);
  check('add→start p99 (ms)', lib.pickupLatency?.addToStart.p99, '≤ 1.5', (v) => v <= 1.5);
  check('cancel→aborted p99 (ms)', lib.cancelLatency?.cancelToAborted.p99, '≤ 1', (v) => v <= 1);
  check('emit→subscriber p99 (ms)', lib.emitLatency?.emitToReceive.p99, '≤ 2', (v) => v <= 2);
  check(`connections, ${lib.subscriptions?.subscriptions} subscriptions (per process)`, lib.subscriptions?.redisConnections.thisProcess, '≤ 4', (v) => v <= 4);
  const cpu = bull?.throughput.redisCpuUsPerJob?.total;
  if (cpu !== undefined) {
    check('Redis CPU per job, add+process (µs)', lib.throughput?.redisCpuUsPerJob?.total, `≤ BullMQ (${cpu})`, (v) => v <= cpu);
  }
  return checks;
}

export function printReport(r: BenchResults, print: (line: string) => void): void {
  const lib = r.library;
  const bull = r.bullmq && 'version' in r.bullmq ? r.bullmq : undefined;
  const rows: Array<[string, string, string]> = [['metric', 'nestjs-job-queue', bull ? `BullMQ ${bull.version}` : 'BullMQ']];
  const row = (label: string, ours: unknown, theirs?: unknown) => {
    if (ours !== undefined || theirs !== undefined) rows.push([label, fmt(ours), fmt(theirs)]);
  };
  const lat = (s?: { p50: number; p99: number }) => (s ? `p50 ${s.p50} / p99 ${s.p99}` : undefined);

  const c = lib.throughput?.concurrency ?? lib.throughputMemory?.concurrency ?? 16;
  row(`throughput c=${c}, in-memory backend (jobs/s)`, lib.throughputMemory?.jobsPerSec);
  row(`throughput c=${c}, 1 process (jobs/s)`, lib.throughput?.jobsPerSec, bull?.throughput.jobsPerSec);
  row(`throughput c=${c}, 2 processes (jobs/s)`, lib.throughput2Processes?.jobsPerSec);
  row('addBulk backlog, chunks of 1000 (jobs/s)', lib.throughput?.addBulkJobsPerSec, bull?.throughput.addBulkJobsPerSec);
  row('add() sequential (jobs/s)', lib.add?.sequential.jobsPerSec, bull?.add.sequential.jobsPerSec);
  row('add() 50 in flight (jobs/s)', lib.add?.inFlight50.jobsPerSec, bull?.add.inFlight50.jobsPerSec);
  row('Redis CPU/job: addBulk (µs)', lib.throughput?.redisCpuUsPerJob?.add, bull?.throughput.redisCpuUsPerJob?.add);
  row('Redis CPU/job: process (µs)', lib.throughput?.redisCpuUsPerJob?.process, bull?.throughput.redisCpuUsPerJob?.process);
  row('Redis CPU/job: add+process (µs)', lib.throughput?.redisCpuUsPerJob?.total, bull?.throughput.redisCpuUsPerJob?.total);
  row('Redis CPU/job: add() 50 in flight (µs)', lib.add?.inFlight50.redisCpuUsPerJob, bull?.add.inFlight50.redisCpuUsPerJob);
  row('Redis CPU/job: process, 2 processes (µs)', lib.throughput2Processes?.redisCpuUsPerJob?.process);
  row('worker CPU/job: process, 1 process (µs)', lib.throughput?.workerCpuUsPerJob, bull?.throughput.workerCpuUsPerJob);
  row('producer CPU/job: add() 50 in flight (µs)', lib.add?.inFlight50.producerCpuUsPerJob, bull?.add.inFlight50.producerCpuUsPerJob);
  row('Redis calls/job: process (script calls / all)', calls(lib.throughput?.redisCommandsPerJob), calls(bull?.throughput.redisCommandsPerJob));
  const b = r.baseline;
  row('floor: ioredis PING RTT, plain (ms)', lat(b?.pingRtt));
  row('floor: ioredis PING RTT, autopipelined (ms)', lat(b?.pingRttAutoPipelined));
  row('floor: LPUSH→BLPOP wake, 2 connections (ms)', lat(b?.lpushToBlpop));
  row('floor: PUBLISH→message, 2 connections (ms)', lat(b?.publishToMessage));
  row('add→handler start, cross-process (ms)', lat(lib.pickupLatency?.addToStart));
  row('cancel→signal.aborted, cross-process (ms)', lat(lib.cancelLatency?.cancelToAborted));
  row('emit→remote subscriber (ms)', lat(lib.emitLatency?.emitToReceive));
  const subs = lib.subscriptions;
  if (subs) {
    row(`${subs.subscriptions} subscriptions: open time (ms)`, subs.openMs);
    row(`${subs.subscriptions} subscriptions: connections this process / server total`, `${subs.redisConnections.thisProcess} / ${subs.redisConnections.total}`);
    // Deltas: a GC during the run can make them negative (no --expose-gc here to force one first).
    const signed = (mb: number | undefined) => (mb === undefined ? '?' : `${mb >= 0 ? '+' : ''}${mb}`);
    row(`${subs.subscriptions} subscriptions: memory (MB)`, `rss ${signed(subs.memory.rssMB)}, heap ${signed(subs.memory.heapUsedMB)}, redis ${signed(subs.memory.redisUsedMB)}`);
    row(`${subs.subscriptions} subscriptions: cancel→'cancelled' event (ms)`, lat(subs.liveEventLatency));
    const cost = subs.liveEventCost;
    row(`${subs.subscriptions} subscriptions: CPU per live event (µs)`, `redis ${fmt(cost.redisCpuUs)}, this process ${fmt(cost.processCpuUs)}`);
  }
  printTable(rows, print);

  if (r.checks.length > 0) {
    print('');
    printTable([['budget (DESIGN.md)', 'value', 'target', 'ok'], ...r.checks.map((c) => [c.metric, fmt(c.value), c.target, c.pass ? 'yes' : 'NO'])], print);
  }
  if (r.bullmq && 'skipped' in r.bullmq) print(`\n${r.bullmq.skipped}`);
  const busy = r.meta.cpuBusyBeforeStart as number | undefined;
  if (busy !== undefined && busy > 0.2) {
    print(`\nwarning: ${Math.round(busy * 100)}% of the CPUs were busy with other processes just before the bench: numbers are noisy.`);
  }
  for (const [step, message] of Object.entries(r.errors)) print(`\n${step} FAILED: ${message}`);
}

/** "script calls / all commands" per job from commandstats deltas. */
function calls(perJob?: Record<string, number>): string | undefined {
  if (!perJob) return undefined;
  const scripts = (perJob.evalsha ?? 0) + (perJob.eval ?? 0);
  const all = Object.values(perJob).reduce((sum, n) => sum + n, 0);
  return `${Math.round(scripts * 100) / 100} / ${Math.round(all * 10) / 10}`;
}

function fmt(value: unknown): string {
  if (value === undefined || value === null || (typeof value === 'number' && !Number.isFinite(value))) return '-';
  return typeof value === 'number' ? value.toLocaleString('en-US') : String(value);
}

function printTable(rows: string[][], print: (line: string) => void): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => cell.padEnd(widths[i])).join(' | ');
  print(line(rows[0]));
  print(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows.slice(1)) print(line(r));
}
