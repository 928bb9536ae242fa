import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import type { SoakReport } from './soak-protocol';

/**
 * The driver's handle on one soak worker process: start, SIGKILL, SIGSTOP/SIGCONT, graceful close.
 * Every report the process sends goes to `onReport`.
 */
export class SoakWorker {
  private readonly exited: Promise<void>;
  stopped = false;

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(
    moduleOptions: Record<string, unknown>,
    onReport: (report: SoakReport) => void,
  ): Promise<SoakWorker> {
    const child = fork(path.join(__dirname, 'soak-worker.child.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, SOAK_MODULE_OPTIONS: JSON.stringify(moduleOptions) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker = new SoakWorker(child);
    child.on('message', onReport);
    await new Promise<void>((resolve, reject) => {
      const onReady = (report: SoakReport) => {
        if (report.t !== 'ready') return;
        child.off('message', onReady);
        resolve();
      };
      child.on('message', onReady);
      child.once('exit', (code) => reject(new Error(`soak worker exited with ${code} before it was ready`)));
    });
    return worker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** A crash: SIGKILL, nothing runs any cleanup. */
  async kill(): Promise<void> {
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** A frozen process: connections stay open, nothing answers, leases run out. */
  freeze(): void {
    this.stopped = true;
    this.child.kill('SIGSTOP');
  }

  thaw(): void {
    this.stopped = false;
    this.child.kill('SIGCONT');
  }

  /** Graceful: the app drains and closes; falls back to SIGKILL after `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    if (!this.alive) return;
    this.thaw();
    this.child.send({ cmd: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
