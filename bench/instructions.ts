/**
 * Redis instructions per processed job, counted by valgrind (callgrind) in a private redis-server:
 * unlike CPU time, the count does not move with the machine's load, so a change to the scripts can be
 * judged from one run, and the peers compared without noise.
 *
 * Per peer: a fresh redis-server under `valgrind --tool=callgrind --instr-atstart=no`; 500 jobs added
 * one at a time with `add()`, counted (`callgrind_control -i on` … `-i off`, then a dump): the cost of a
 * web request's add; the rest of `--jobs` no-op jobs (default 3,000) added with `addBulk`, not counted;
 * then, counted again, a worker at `--concurrency` (default 16) started (its boot is counted too,
 * spread over the jobs) until every completion is acknowledged. Kernel time (socket reads and writes) is not
 * in the count: a library that makes more round trips per job costs more than its count says.
 *
 * Usage: npm run bench:instructions [-- --jobs=5000 --concurrency=1 --peers=ours,bullmq,bee]   (needs valgrind: apt-get install valgrind)
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../test/support/local-port';
import { loadPeers } from './peers/load-peers';
import type { Peer, PeerId } from './peers/peer';
import { spawnRedisServer } from './redis-server';

const run = promisify(execFile);
/** Adds counted one at a time (a web request's `add()`), before the backlog is added uncounted. */
const LONE_ADDS = 500;
/** Under valgrind Redis runs some 50 times slower: generous bounds. */
const START_TIMEOUT_MS = 60_000;
const PROCESS_TIMEOUT_MS = 600_000;

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

async function ensureValgrind(): Promise<void> {
  try {
    await run('valgrind', ['--version']);
    await run('callgrind_control', ['--version']);
  } catch {
    throw new Error('valgrind is not installed (it has callgrind_control): apt-get install valgrind');
  }
}

/** The sum of the `totals:` lines of every callgrind dump in `dir`. */
function totalInstructions(dir: string): number {
  let total = 0;
  for (const file of readdirSync(dir)) {
    const match = /^totals:\s+(\d+)/m.exec(readFileSync(join(dir, file), 'utf8'));
    if (match) total += Number(match[1]);
  }
  return total;
}

interface Row {
  label: string;
  perAdd: number;
  perJob: number;
}

/** Counts instructions (callgrind on) while `work` runs; returns the count. */
async function counted(dumps: string, work: () => Promise<void>): Promise<number> {
  const before = totalInstructions(dumps);
  await run('callgrind_control', ['-i', 'on']);
  await work();
  await run('callgrind_control', ['-i', 'off']);
  // Every dump holds the instructions since the previous one: the new dump is this run's count.
  await run('callgrind_control', ['-d']);
  return totalInstructions(dumps) - before;
}

async function measure(peerId: PeerId, jobs: number, concurrency: number): Promise<Row> {
  const dumps = mkdtempSync(join(tmpdir(), 'jq-bench-callgrind-'));
  const port = await freePort();
  const launcher = ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${dumps}/out`];
  const redis = await spawnRedisServer(port, [], launcher, START_TIMEOUT_MS);
  try {
    const { peers, notes } = loadPeers({ host: redis.host, port: redis.port }, new Set([peerId]));
    const peer: Peer | undefined = peers[0];
    if (!peer) throw new Error(notes.join('; '));
    const queue = `instr-${peerId}`;
    const producer = await peer.producer(queue);
    // Only one callgrind runs at a time here, so its commands need no pid.
    const lone = Math.min(LONE_ADDS, jobs);
    const addCount = await counted(dumps, async () => {
      for (let i = 0; i < lone; i++) await producer.add({ i });
    });
    for (let i = lone; i < jobs; i += 500) {
      await producer.addBulk(Array.from({ length: Math.min(500, jobs - i) }, (_, j) => ({ i: i + j })));
    }
    await producer.close();
    let worker: Awaited<ReturnType<Peer['worker']>> | undefined;
    const jobCount = await counted(dumps, async () => {
      worker = await peer.worker(queue, concurrency, () => undefined);
      await worker.completed(jobs, PROCESS_TIMEOUT_MS);
    });
    await worker?.close();
    return { label: peer.label, perAdd: addCount / lone, perJob: jobCount / jobs };
  } finally {
    await redis.stop();
    rmSync(dumps, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await ensureValgrind();
  const jobs = Number(option('jobs', '3000'));
  const concurrency = Number(option('concurrency', '16'));
  const peerIds = option('peers', 'ours,bullmq,bee').split(',') as PeerId[];
  const rows: Row[] = [];
  for (const id of peerIds) {
    process.stderr.write(`bench:instructions: ${id}, ${jobs} jobs under callgrind ...\n`);
    rows.push(await measure(id, jobs, concurrency));
  }
  const ours = rows.find((_, i) => peerIds[i] === 'ours');
  const cell = (value: number, ourValue: number | undefined) =>
    `${Math.round(value).toLocaleString('en-US').padStart(10)}${ourValue ? ` (ours/this ${(ourValue / value).toFixed(2)})` : ''}`;
  console.log(
    `Redis instructions (callgrind): per add() one at a time (${Math.min(LONE_ADDS, jobs)}), ` +
      `per processed job (${jobs} no-op jobs, concurrency ${concurrency})`,
  );
  for (const row of rows) {
    console.log(
      `${row.label.padEnd(28)} add ${cell(row.perAdd, ours?.perAdd)}   job ${cell(row.perJob, ours?.perJob)}`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
