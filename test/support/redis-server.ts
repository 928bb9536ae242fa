import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort, waitForPing } from './local-port';
import { privateRedisServerArgs } from './redis-server-args';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A Redis server for one test file. */
export interface RedisServerHandle {
  /** `redis://127.0.0.1:<port>` (or REDIS_URL). */
  readonly url: string;
  readonly port: number;
  /** A queue prefix unique to this handle: isolates tests sharing an external REDIS_URL server. */
  readonly prefix: string;
  /** Stops the server (SIGTERM, waits for exit). With REDIS_URL: deletes this handle's keys. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: no persistence), after `stop()`. */
  start(): Promise<void>;
  /** stop() + start(). */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open but nothing answers. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
}

/**
 * Starts a private `redis-server` on a free port (`--save "" --appendonly no`: nothing on disk)
 * and resolves once it answers PING. Tests never touch a shared Redis.
 *
 * With env REDIS_URL set, that server is used instead, isolated by a unique `prefix` — except for
 * suites that inject faults (`{ faults: true }`: they stop, pause, restart or reconfigure the
 * server, or fill its client slots), which always get a private one.
 */
export async function startRedisServer({ faults = false }: { faults?: boolean } = {}): Promise<RedisServerHandle> {
  const external = process.env.REDIS_URL;
  if (faults)
    return startPrivateRedisServer([], '(this suite stops and reconfigures its Redis, so REDIS_URL cannot serve it).');
  if (external) return externalServer(external);
  return startPrivateRedisServer([], 'or set REDIS_URL to a Redis server the tests may use.');
}

/**
 * Starts a private `redis-server` with extra command-line arguments (e.g. cluster mode), whatever
 * REDIS_URL says. `otherwise` completes the error message when redis-server is missing.
 */
export async function startPrivateRedisServer(extraArgs: string[], otherwise: string): Promise<RedisServerHandle> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) {
    throw new Error(
      `redis-server is not on PATH: install the Debian package 'redis-server' (apt-get install redis-server) ${otherwise}`,
    );
  }
  const server = new PrivateRedisServer(await freePort(), extraArgs);
  await server.start();
  return server;
}

class PrivateRedisServer implements RedisServerHandle {
  readonly url: string;
  readonly prefix = `t${randomUUID().slice(0, 8)}`;
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private readonly dir = mkdtempSync(join(tmpdir(), 'jq-redis-'));

  constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    // A test run that dies without stop() must not leave a redis-server (or its directory) behind.
    process.once('exit', () => {
      this.child?.kill('SIGCONT');
      this.child?.kill('SIGKILL');
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn('redis-server', [...privateRedisServerArgs(this.port, this.dir), ...this.extraArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.child = child;
    const early = this.exited.then(() => {
      throw new Error(`redis-server exited during start on port ${this.port}: ${stderr.trim()}`);
    });
    await Promise.race([waitForPing(this.port), early]);
    early.catch(() => undefined);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT'); // a paused server cannot handle SIGTERM
      child.kill('SIGTERM');
    }
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }
}

function externalServer(url: string): RedisServerHandle {
  const parsed = new URL(url);
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const unsupported = (what: string) => () => {
    throw new Error(`${what} needs a private redis-server (startRedisServer({ faults: true })).`);
  };
  return {
    url,
    port: Number(parsed.port || 6379),
    prefix,
    async stop() {
      // Imported lazily so the private-server path needs no client here.
      const { default: Redis } = await import('ioredis');
      const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        let cursor = '0';
        do {
          const [next, keys] = await admin.scan(cursor, 'MATCH', `*{${prefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await admin.unlink(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        admin.disconnect();
      }
    },
    async start() {},
    restart: unsupported('restart()'),
    pause: unsupported('pause()'),
    resume: unsupported('resume()'),
  };
}
