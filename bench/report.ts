import type { PeerId } from './peers/peer';
import type { BaselineResult } from './scenarios/baseline';
import type { CompareSizes, FigureKey, RoundCommands, RoundFigures } from './scenarios/compare';
import type { EmitLatencyResult } from './scenarios/emit-latency';
import type { PickupLatencyResult } from './scenarios/pickup-latency';
import type { SubscriptionsResult } from './scenarios/subscriptions';
import type { ThroughputResult } from './scenarios/throughput';

export interface BenchResults {
  meta: Record<string, unknown>;
  /** The side-by-side comparison: every round's figures per peer. */
  compare?: {
    peers: Array<{ id: PeerId; label: string }>;
    sizes: CompareSizes;
    rounds: Array<Partial<Record<PeerId, RoundFigures>>>;
    /** Per round and peer: Redis calls and µs per job by command (results.json only). */
    commands: Array<Partial<Record<PeerId, RoundCommands>>>;
    notes: string[];
  };
  /** Figures of this library only. */
  extras: {
    baseline?: BaselineResult;
    throughputMemory?: ThroughputResult;
    throughput2Processes?: ThroughputResult;
    pickupLatency?: PickupLatencyResult;
    emitLatency?: EmitLatencyResult;
    subscriptions?: SubscriptionsResult;
  };
  errors: Record<string, string>;
}

/** Rows of the comparison table, in the order of issue 13's table. */
const FIGURES: Array<{ key: FigureKey; label: string; decimals: number }> = [
  { key: 'processC16', label: 'process only, concurrency 16 (jobs/s)', decimals: 0 },
  { key: 'processC1', label: 'process only, concurrency 1 (jobs/s)', decimals: 0 },
  { key: 'addProcessC16', label: 'add (64 in flight) + process together, c=16 (jobs/s)', decimals: 0 },
  { key: 'addSequential', label: 'add() one at a time (jobs/s)', decimals: 0 },
  { key: 'addInFlight', label: 'add() 64 in flight (jobs/s)', decimals: 0 },
  { key: 'startP50', label: 'add → handler start p50 (ms)', decimals: 2 },
  { key: 'startP99', label: 'add → handler start p99 (ms)', decimals: 2 },
  { key: 'seenP50', label: 'add → completed seen by producer p50 (ms)', decimals: 2 },
  { key: 'seenP99', label: 'add → completed seen by producer p99 (ms)', decimals: 2 },
  { key: 'addCommands', label: 'per add: Redis commands', decimals: 1 },
  { key: 'addScripts', label: 'per add: script calls', decimals: 2 },
  { key: 'addRedisUsSequential', label: 'per add, one at a time: Redis CPU µs', decimals: 0 },
  { key: 'addRedisUsInFlight', label: 'per add, 64 in flight: Redis CPU µs', decimals: 0 },
  { key: 'addProducerUs', label: 'per add, 64 in flight: producer CPU µs', decimals: 0 },
  { key: 'c16RedisUs', label: 'per job at c=16: Redis CPU µs', decimals: 0 },
  { key: 'c16WorkerUs', label: 'per job at c=16: worker CPU µs', decimals: 0 },
  { key: 'c16Commands', label: 'per job at c=16: Redis commands', decimals: 1 },
  { key: 'c16Scripts', label: 'per job at c=16: script calls', decimals: 2 },
  { key: 'c1RedisUs', label: 'per job at c=1: Redis CPU µs', decimals: 0 },
  { key: 'c1Commands', label: 'per job at c=1: Redis commands', decimals: 1 },
  { key: 'c1Scripts', label: 'per job at c=1: script calls', decimals: 2 },
  { key: 'addProcessRedisUs', label: 'add+process: Redis CPU µs per job', decimals: 0 },
  { key: 'cancelP50', label: 'cross-process cancel → signal.aborted p50 (ms)', decimals: 2 },
  { key: 'cancelP99', label: 'cross-process cancel → signal.aborted p99 (ms)', decimals: 2 },
];

/** Issue 13's targets, as ratios (median over rounds of the per-round ratio) or absolute values. */
const TARGETS: Array<{
  label: string;
  key: FigureKey;
  peer?: PeerId;
  atLeast?: number;
  atMost?: number;
  moreThan?: number;
}> = [
  { label: 'process c=16 ≥ 2× BullMQ', key: 'processC16', peer: 'bullmq', atLeast: 2 },
  { label: 'process c=16 ahead of bee-queue', key: 'processC16', peer: 'bee', moreThan: 1 },
  { label: 'process c=1 ≥ 1.5× BullMQ', key: 'processC1', peer: 'bullmq', atLeast: 1.5 },
  { label: 'add+process c=16 ≥ 2× BullMQ', key: 'addProcessC16', peer: 'bullmq', atLeast: 2 },
  { label: 'add() one at a time ≥ 1.5× BullMQ', key: 'addSequential', peer: 'bullmq', atLeast: 1.5 },
  { label: 'add() 64 in flight ≥ 2× BullMQ', key: 'addInFlight', peer: 'bullmq', atLeast: 2 },
  { label: 'add → start p50 no slower than bee-queue', key: 'startP50', peer: 'bee', atMost: 1 },
  { label: 'add → completed seen p50 no slower than bee-queue', key: 'seenP50', peer: 'bee', atMost: 1 },
  { label: 'add → start p99 no worse than issue 13 (3.05 ms)', key: 'startP99', atMost: 3.05 },
  { label: 'cross-process cancel p99 ≤ 1 ms', key: 'cancelP99', atMost: 1 },
];

export function printReport(r: BenchResults, print: (line: string) => void): void {
  if (r.compare && r.compare.rounds.length > 0) printComparison(r.compare, print);
  printExtras(r, print);
  const busy = r.meta.cpuBusyBeforeStart as number | undefined;
  if (busy !== undefined && busy > 0.2) {
    print(
      `\nwarning: ${Math.round(busy * 100)}% of the CPUs were busy with other processes just before the bench: numbers are noisy.`,
    );
  }
  for (const [step, message] of Object.entries(r.errors)) print(`\n${step} FAILED: ${message}`);
}

function printComparison(c: NonNullable<BenchResults['compare']>, print: (line: string) => void): void {
  const ours = c.peers.find((p) => p.id === 'ours');
  const others = c.peers.filter((p) => p.id !== 'ours');
  const n = c.rounds.length;
  print(
    `side by side: one private Redis, ${c.sizes.jobs.toLocaleString('en-US')} no-op jobs, median of ${n} round${n > 1 ? 's' : ''} [min–max]; ratio = ours / peer, median of the per-round ratios`,
  );
  print('(throughput: > 1 is better for ours; latency, CPU and commands: < 1 is better for ours)\n');
  const header = [
    'figure',
    ...c.peers.map((p) => p.label),
    ...(ours ? others.map((p) => `ours / ${p.label.split(' ')[0]}`) : []),
  ];
  const rows: string[][] = [header];
  for (const f of FIGURES) {
    const cells = c.peers.map((p) => spread(values(c, p.id, f.key), f.decimals));
    if (cells.every((cell) => cell === '-')) continue;
    const ratios = ours ? others.map((p) => fmtRatio(ratio(c, f.key, p.id))) : [];
    rows.push([f.label, ...cells, ...ratios]);
  }
  printTable(rows, print);

  if (ours) {
    print('');
    const targetRows: string[][] = [['issue 13 target', 'measured', 'met']];
    for (const t of TARGETS) {
      if (t.peer && !c.peers.some((p) => p.id === t.peer)) continue;
      const value = t.peer ? ratio(c, t.key, t.peer) : median(values(c, 'ours', t.key));
      if (value === undefined) continue;
      const met =
        (t.atLeast === undefined || value >= t.atLeast) &&
        (t.atMost === undefined || value <= t.atMost) &&
        (t.moreThan === undefined || value > t.moreThan);
      targetRows.push([t.label, t.peer ? `${fmtRatio(value)}×` : `${value.toFixed(2)} ms`, met ? 'yes' : 'NO']);
    }
    printTable(targetRows, print);
  }
  for (const note of c.notes) print(`\n${note}`);
}

function values(c: NonNullable<BenchResults['compare']>, peer: PeerId, key: FigureKey): number[] {
  return c.rounds.map((round) => round[peer]?.[key]).filter((v): v is number => v !== undefined && Number.isFinite(v));
}

/** Median over the rounds of ours / peer, each ratio taken within one round. */
function ratio(c: NonNullable<BenchResults['compare']>, key: FigureKey, peer: PeerId): number | undefined {
  const ratios = c.rounds
    .map((round) => (round.ours?.[key] ?? NaN) / (round[peer]?.[key] ?? NaN))
    .filter((v) => Number.isFinite(v));
  return median(ratios);
}

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function spread(xs: number[], decimals: number): string {
  const m = median(xs);
  if (m === undefined) return '-';
  const f = (v: number) =>
    v.toLocaleString('en-US', { maximumFractionDigits: decimals, minimumFractionDigits: decimals });
  return xs.length > 1 ? `${f(m)} [${f(Math.min(...xs))}–${f(Math.max(...xs))}]` : f(m);
}

function fmtRatio(v: number | undefined): string {
  return v === undefined ? '-' : v.toFixed(2);
}

function printExtras(r: BenchResults, print: (line: string) => void): void {
  const x = r.extras;
  const rows: string[][] = [['nestjs-job-queue only', 'value']];
  const row = (label: string, value: unknown) => {
    if (value !== undefined) rows.push([label, fmt(value)]);
  };
  const lat = (s?: { p50: number; p99: number }) => (s ? `p50 ${s.p50} / p99 ${s.p99}` : undefined);
  row('throughput c=16, in-memory backend (jobs/s)', x.throughputMemory?.jobsPerSec);
  row('throughput c=16, 2 worker processes (jobs/s)', x.throughput2Processes?.jobsPerSec);
  row('Redis CPU/job: process, 2 worker processes (µs)', x.throughput2Processes?.redisCpuUsPerJob?.process);
  const b = x.baseline;
  row('floor: ioredis PING RTT, plain (ms)', lat(b?.pingRtt));
  row('floor: ioredis PING RTT, autopipelined (ms)', lat(b?.pingRttAutoPipelined));
  row('floor: LPUSH→BLPOP wake, 2 connections (ms)', lat(b?.lpushToBlpop));
  row('floor: PUBLISH→message, 2 connections (ms)', lat(b?.publishToMessage));
  row('add→handler start, worker in another process (ms)', lat(x.pickupLatency?.addToStart));
  row('emit→subscriber in another process (ms)', lat(x.emitLatency?.emitToReceive));
  const subs = x.subscriptions;
  if (subs) {
    row(`${subs.subscriptions} subscriptions: open time (ms)`, subs.openMs);
    row(
      `${subs.subscriptions} subscriptions: connections this process / server total`,
      `${subs.redisConnections.thisProcess} / ${subs.redisConnections.total}`,
    );
    // Deltas: a GC during the run can make them negative (no --expose-gc here to force one first).
    const signed = (mb: number | undefined) => (mb === undefined ? '?' : `${mb >= 0 ? '+' : ''}${mb}`);
    row(
      `${subs.subscriptions} subscriptions: memory (MB)`,
      `rss ${signed(subs.memory.rssMB)}, heap ${signed(subs.memory.heapUsedMB)}, redis ${signed(subs.memory.redisUsedMB)}`,
    );
    row(`${subs.subscriptions} subscriptions: cancel→'cancelled' event (ms)`, lat(subs.liveEventLatency));
    const cost = subs.liveEventCost;
    row(
      `${subs.subscriptions} subscriptions: CPU per live event (µs)`,
      `redis ${fmt(cost.redisCpuUs)}, this process ${fmt(cost.processCpuUs)}`,
    );
  }
  if (rows.length === 1) return;
  print('');
  printTable(rows, print);
}

function fmt(value: unknown): string {
  if (value === undefined || value === null || (typeof value === 'number' && !Number.isFinite(value))) return '-';
  return typeof value === 'number' ? value.toLocaleString('en-US') : String(value);
}

function printTable(rows: string[][], print: (line: string) => void): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((cell, i) => (cell ?? '').padEnd(widths[i])).join(' | ');
  print(line(rows[0]));
  print(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows.slice(1)) print(line(r));
}
