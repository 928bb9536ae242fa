/**
 * Redis instructions per processed job, counted by valgrind (callgrind) in a private redis-server:
 * unlike CPU time, the count does not move with the machine's load, so a change to the scripts can be
 * judged from one run, and the peers compared without noise.
 *
 * Per peer: a fresh redis-server under `valgrind --tool=callgrind --instr-atstart=no`; a backlog of
 * `--jobs` no-op jobs (default 3,000) added with `addBulk` while nothing is counted; then counting on
 * (`callgrind_control -i on`), a worker at concurrency 16 started (its boot is counted too, spread over
 * the jobs), every completion acknowledged, counting off. Kernel time (socket reads and writes) is not
 * in the count: a library that makes more round trips per job costs more than its count says.
 *
 * Usage: npm run bench:instructions [-- --jobs=5000 --peers=ours,bullmq,bee]   (needs valgrind: apt-get install valgrind)
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
const CONCURRENCY = 16;
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

async function measure(peerId: PeerId, jobs: number): Promise<{ label: string; perJob: number }> {
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
    for (let i = 0; i < jobs; i += 500) {
      await producer.addBulk(Array.from({ length: Math.min(500, jobs - i) }, (_, j) => ({ i: i + j })));
    }
    await producer.close();
    // Only one callgrind runs at a time here, so the commands need no pid.
    await run('callgrind_control', ['-i', 'on']);
    const worker = await peer.worker(queue, CONCURRENCY, () => undefined);
    await worker.completed(jobs, PROCESS_TIMEOUT_MS);
    await run('callgrind_control', ['-i', 'off']);
    await run('callgrind_control', ['-d']);
    await worker.close();
    return { label: peer.label, perJob: totalInstructions(dumps) / jobs };
  } finally {
    await redis.stop();
    rmSync(dumps, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await ensureValgrind();
  const jobs = Number(option('jobs', '3000'));
  const peerIds = option('peers', 'ours,bullmq,bee').split(',') as PeerId[];
  const rows: Array<{ label: string; perJob: number }> = [];
  for (const id of peerIds) {
    process.stderr.write(`bench:instructions: ${id}, ${jobs} jobs under callgrind ...\n`);
    rows.push(await measure(id, jobs));
  }
  const ours = rows.find((_, i) => peerIds[i] === 'ours');
  console.log(`Redis instructions per processed job (callgrind; ${jobs} no-op jobs, concurrency ${CONCURRENCY})`);
  for (const row of rows) {
    const ratio = ours ? ` (ours / this: ${(ours.perJob / row.perJob).toFixed(2)})` : '';
    console.log(`${row.label.padEnd(28)} ${Math.round(row.perJob).toLocaleString('en-US').padStart(10)}${ratio}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
