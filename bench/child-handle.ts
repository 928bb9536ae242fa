import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { now, withTimeout } from './clock';
import type { ChildConfig, ChildMessage, ParentMessage } from './protocol';

const live = new Set<ChildProcess>();
// Children never outlive the bench, whatever way it ends.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** The parent's side of one bench/child-worker.ts process. */
export class ChildHandle {
  /** Add to a child timestamp to get the parent's clock (see syncClock). */
  offsetMs = 0;
  private readonly listeners = new Set<(message: ChildMessage) => void>();
  private readonly exited: Promise<void>;
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    live.add(child);
    child.on('message', (message: ChildMessage) => {
      for (const listener of [...this.listeners]) listener(message);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4_000);
      if (process.env.BENCH_VERBOSE) process.stderr.write(chunk);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        live.delete(child);
        resolve();
      }),
    );
  }

  static async start(config: ChildConfig, timeoutMs = 30_000): Promise<ChildHandle> {
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', join(__dirname, 'child-worker.ts')],
      {
        cwd: join(__dirname, '..'),
        env: { ...process.env, BENCH_CHILD: JSON.stringify(config) },
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      },
    );
    const handle = new ChildHandle(child);
    const died = handle.exited.then(() => {
      throw new Error(`bench child exited during start-up: ${handle.stderr.trim()}`);
    });
    died.catch(() => undefined);
    try {
      await withTimeout(
        Promise.race([
          handle
            .next((m) => m.type === 'ready' || m.type === 'fatal')
            .then((m) => {
              if (m.type === 'fatal') throw new Error(`bench child failed: ${m.message}`);
            }),
          died,
        ]),
        timeoutMs,
        'bench child start',
      );
      await handle.syncClock();
    } catch (err) {
      await handle.stop();
      throw err;
    }
    return handle;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  send(message: ParentMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  on(listener: (message: ChildMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next message matching `match` (register before triggering it). */
  next<M extends ChildMessage>(match: (message: ChildMessage) => message is M): Promise<M>;
  next(match: (message: ChildMessage) => boolean): Promise<ChildMessage>;
  next(match: (message: ChildMessage) => boolean): Promise<ChildMessage> {
    return new Promise((resolve) => {
      const off = this.on((message) => {
        if (!match(message)) return;
        off();
        resolve(message);
      });
    });
  }

  /**
   * NTP-style: offset = parent midpoint − child time, from the round trip with the smallest RTT.
   * Keeps cross-process latencies honest to a few µs (IPC itself is not part of any measurement).
   */
  async syncClock(rounds = 50): Promise<void> {
    let best = { rtt: Infinity, offset: 0 };
    for (let seq = 0; seq < rounds; seq++) {
      const reply = this.next((m) => m.type === 'pong' && m.seq === seq) as Promise<
        Extract<ChildMessage, { type: 'pong' }>
      >;
      const sent = now();
      this.send({ type: 'ping', seq });
      const pong = await withTimeout(reply, 5_000, 'clock sync');
      const received = now();
      const rtt = received - sent;
      if (rtt < best.rtt) best = { rtt, offset: (sent + received) / 2 - pong.at };
    }
    this.offsetMs = best.offset;
  }

  /** Child timestamp → parent clock. */
  toParent(at: number): number {
    return at + this.offsetMs;
  }

  /** Graceful stop (the child closes its app), SIGKILL after `graceMs`. */
  async stop(graceMs = 6_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
