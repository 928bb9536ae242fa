import type { PeerId } from './peers/peer';

/** What `npm run bench -- <args>` asked for. */
export interface BenchOptions {
  steps: ReadonlySet<Step>;
  peers: ReadonlySet<PeerId>;
  rounds: number;
  quick: boolean;
  /** Backlog of the throughput runs. */
  jobs: number;
  /** In-memory backend only, no Redis. */
  memoryOnly: boolean;
}

/**
 * compare: the side-by-side table (every peer, plus ours' cross-process cancel), `rounds` times.
 * The others measure this library only: baseline (plain ioredis floors), memory (in-memory backend),
 * throughput2 (two worker processes), cross (add→start and emit→subscriber across processes),
 * subs (10,000 open event subscriptions).
 */
export const STEPS = ['compare', 'baseline', 'memory', 'throughput2', 'cross', 'subs'] as const;
export type Step = (typeof STEPS)[number];
const PEERS: readonly PeerId[] = ['ours', 'bullmq', 'bee'];

export const USAGE = `usage: npm run bench -- [--quick] [--rounds=N] [--only=${STEPS.join(',')}] [--peers=${PEERS.join(',')}] [--jobs=N]
  --quick     one round of the comparison on smaller sizes, no other steps (about a minute)
  --rounds=N  rounds of the comparison; the table shows medians (default 3)
  --only=...  steps to run (default: all)
  --peers=... queues to compare (default: all installed)
  --jobs=N    backlog of the throughput runs (default 20000)
env: BENCH_PROFILE=1 writes CPU profiles of the measured runs to bench/profiles/, BENCH_VERBOSE=1 shows children's stderr,
     BENCH_MEMORY=1 runs the in-memory scenario only, BENCH_SUBSCRIPTIONS=N sizes the subscriptions step.`;

export function parseOptions(argv: string[]): BenchOptions {
  const args = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument '${arg}'\n${USAGE}`);
    args.set(match[1], match[2] ?? '');
  }
  for (const key of args.keys()) {
    if (!['quick', 'rounds', 'only', 'peers', 'jobs', 'help'].includes(key))
      throw new Error(`unknown option '--${key}'\n${USAGE}`);
  }
  if (args.has('help')) throw new Error(USAGE);
  const quick = args.has('quick');
  const steps = list(args.get('only'), STEPS, quick ? ['compare'] : STEPS, 'step');
  return {
    steps: new Set(steps),
    peers: new Set(list(args.get('peers'), PEERS, PEERS, 'peer')),
    rounds: positive(args.get('rounds') ?? (quick ? '1' : '3'), 'rounds'),
    quick,
    jobs: positive(args.get('jobs') ?? (quick ? '5000' : '20000'), 'jobs'),
    memoryOnly: process.env.BENCH_MEMORY === '1',
  };
}

function list<T extends string>(
  value: string | undefined,
  known: readonly T[],
  fallback: readonly T[],
  what: string,
): T[] {
  if (value === undefined) return [...fallback];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items)
    if (!known.includes(item as T)) throw new Error(`unknown ${what} '${item}' (known: ${known.join(', ')})`);
  return items as T[];
}

function positive(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${what} must be a positive integer, got '${value}'`);
  return n;
}
