import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPing } from './local-port';
import { privateRedisServerArgs } from './redis-server-args';

/**
 * Six `redis-server --cluster-enabled yes` processes (3 masters, 1 replica each) on loopback, built
 * with `redis-cli --cluster create`. One such cluster serves a whole jest run: the first suite that
 * asks starts it (`sharedClusterServers`), later suites reuse it, and jest's global teardown
 * (`stopSharedClusterServers`) stops it. Suites keep apart by key prefix.
 */

/** Low, so a failover (node timeout + election) takes ~3 s instead of the default ~16 s. */
export const NODE_TIMEOUT_MS = 2_000;
const READY_TIMEOUT_MS = 30_000;
const NODES = 6;
/** Env var (set by jest's global setup) naming the directory that holds the shared cluster's state. */
export const STATE_DIR_ENV = 'JQ_TEST_CLUSTER_DIR';

export interface ClusterServersState {
  ports: number[];
  /** By port; a node restarted by a test is recorded again (see `restartClusterNode`). */
  pids: Record<number, number>;
  dir: string;
  /** Time from first spawn to `cluster_state:ok` everywhere and every replica in sync, ms. */
  startMs: number;
}

/** The shared cluster's ports; starts it on first use (a lock directory makes concurrent workers wait). */
export async function sharedClusterServers(): Promise<ClusterServersState> {
  const stateDir = process.env[STATE_DIR_ENV] ?? ownStateDir();
  const stateFile = join(stateDir, 'state.json');
  try {
    mkdirSync(join(stateDir, 'lock'));
  } catch {
    return waitForState(stateFile);
  }
  const state = await startClusterServers();
  writeFileSync(stateFile, JSON.stringify(state));
  return state;
}

/** Jest global teardown: stops the shared cluster if a suite started it. */
export function stopSharedClusterServers(): void {
  const stateDir = process.env[STATE_DIR_ENV];
  if (!stateDir) return;
  try {
    const state = readState(stateDir);
    for (const pid of Object.values(state.pids)) killQuietly(pid);
    rmSync(state.dir, { recursive: true, force: true });
  } catch {
    // never started in this run
  }
  rmSync(stateDir, { recursive: true, force: true });
}

/** Without jest's global setup (a single file run some other way): a private directory, cleaned on exit. */
function ownStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'jq-cluster-state-'));
  process.env[STATE_DIR_ENV] = dir;
  process.once('exit', stopSharedClusterServers);
  return dir;
}

async function waitForState(stateFile: string): Promise<ClusterServersState> {
  const deadline = Date.now() + READY_TIMEOUT_MS * 2;
  for (;;) {
    try {
      return JSON.parse(readFileSync(stateFile, 'utf8')) as ClusterServersState;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`The shared Redis Cluster was not up within ${READY_TIMEOUT_MS * 2} ms (${stateFile}).`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function startClusterServers(): Promise<ClusterServersState> {
  if (spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).error) {
    throw new Error(
      "redis-server/redis-cli are not on PATH: install the Debian package 'redis-server' (apt-get install redis-server).",
    );
  }
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'jq-cluster-'));
  const ports: number[] = [];
  while (ports.length < NODES) {
    const port = await freePort();
    // The cluster bus listens on port + 10000: both must be free.
    if (port + 10_000 < 65_536 && !ports.includes(port)) ports.push(port);
  }
  const children = ports.map((port) => spawnClusterNode(dir, port));
  try {
    await Promise.all(ports.map((port) => waitForPing(port)));
    const created = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'],
      { encoding: 'utf8', timeout: READY_TIMEOUT_MS },
    );
    if (created.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${created.stdout}\n${created.stderr}`);
    await waitForClusterOk(ports);
  } catch (err) {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const pids = Object.fromEntries(ports.map((port, i) => [port, children[i].pid!]));
  return { ports, pids, dir, startMs: Date.now() - started };
}

function readState(stateDir = process.env[STATE_DIR_ENV]!): ClusterServersState {
  return JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as ClusterServersState;
}

/** SIGKILL of one node, as a crash. Resolves once the process is gone. */
export async function killClusterNode(port: number): Promise<void> {
  const pid = readState().pids[port];
  killQuietly(pid);
  while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Starts a killed node again on its port: with its nodes.conf it rejoins (as a replica once failed over). */
export async function restartClusterNode(port: number): Promise<void> {
  const state = readState();
  const child = spawnClusterNode(state.dir, port);
  state.pids[port] = child.pid!;
  writeFileSync(join(process.env[STATE_DIR_ENV]!, 'state.json'), JSON.stringify(state));
  await waitForPing(port);
}

/** Starts (or restarts, with its nodes.conf: it rejoins as it left) one node of the cluster. */
export function spawnClusterNode(dir: string, port: number): ChildProcess {
  const nodeDir = join(dir, String(port));
  mkdirSync(nodeDir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      ...privateRedisServerArgs(port, nodeDir),
      ...[
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        String(NODE_TIMEOUT_MS),
      ],
      // Replicas sync at once (the default waits 5 s for more replicas to share a diskless transfer).
      ...['--repl-diskless-sync-delay', '0'],
    ],
    { stdio: 'ignore' },
  );
  // Stopped by the global teardown, not by whichever suite happened to start it.
  child.unref();
  // A run that dies before the global teardown must not leave servers behind.
  process.once('exit', () => child.kill('SIGKILL'));
  return child;
}

/** Resolves once every node says `cluster_state:ok`, sees 3 masters, and every replica's link is up. */
export async function waitForClusterOk(ports: number[], timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (ports.every((port) => clusterNodeOk(port))) return;
    if (Date.now() > deadline)
      throw new Error(`The Redis Cluster on ports ${ports.join(', ')} did not become ok within ${timeoutMs} ms.`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function clusterNodeOk(port: number): boolean {
  const info = redisCli(port, 'CLUSTER', 'INFO');
  if (!/cluster_state:ok/.test(info) || !/cluster_size:3\b/.test(info)) return false;
  const replication = redisCli(port, 'INFO', 'replication');
  return /role:master/.test(replication) || /master_link_status:up/.test(replication);
}

/** One command through redis-cli (test-side administration: no client state to clean up). */
export function redisCli(port: number, ...args: string[]): string {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    encoding: 'utf8',
    timeout: 5_000,
  });
  return result.status === 0 ? result.stdout : '';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
