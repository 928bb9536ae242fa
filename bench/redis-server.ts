import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort, waitForPing } from '../test/support/local-port';
import { privateRedisServerArgs } from '../test/support/redis-server-args';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private redis-server for the bench: never the shared one on 6379, nothing written to disk. */
export interface BenchRedis {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Runs redis-server under a tiny sh wrapper that kills it as soon as our end of its stdin pipe
 * closes, so the server goes with the bench however the bench ends (even on SIGKILL).
 */
// (An asynchronous list's stdin is /dev/null in sh: the pipe is handed over as fd 3.)
const WRAPPER =
  'exec 3<&0; "$@" </dev/null & pid=$!; (cat <&3 >/dev/null; kill $pid 2>/dev/null) & exec 3<&-; wait $pid';

export async function startRedisServer(): Promise<BenchRedis> {
  return spawnRedisServer(await freePort());
}

/**
 * A private redis-server on `port`, with `extraArgs` (e.g. cluster mode), as {@link startRedisServer}
 * describes. `launcher`: a command that runs the server (e.g. valgrind and its options).
 */
export async function spawnRedisServer(
  port: number,
  extraArgs: string[] = [],
  launcher: string[] = [],
  startTimeoutMs = 10_000,
): Promise<BenchRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'jq-bench-redis-'));
  const args = [...launcher, 'redis-server', ...privateRedisServerArgs(port, dir), ...extraArgs];
  const child: ChildProcess = spawn('sh', ['-c', WRAPPER, 'sh', ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const kill = () => {
    child.stdin?.destroy(); // the wrapper kills redis-server
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', kill);

  const early = exited.then(() => {
    throw new Error(
      `redis-server did not start on port ${port} (is it installed? apt-get install redis-server): ${stderr.trim()}`,
    );
  });
  early.catch(() => undefined);
  try {
    await Promise.race([waitForPing(port, startTimeoutMs), early]);
  } catch (err) {
    kill();
    throw err;
  }

  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      process.removeListener('exit', kill);
    },
  };
}
