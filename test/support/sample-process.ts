import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';

/**
 * The sample app in a child process (SIGTERM → Nest shutdown hooks), on a loopback port.
 * `withTestRoutes` adds the routes of test/support/test-routes.module.ts.
 */
export class SampleProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private constructor(
    readonly child: ChildProcess,
    readonly base: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static async start(env: Record<string, string>, { withTestRoutes = false } = {}): Promise<SampleProcess> {
    const child = fork(path.join(__dirname, 'sample-process.child.ts'), withTestRoutes ? ['test-routes'] : [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (message: { port: number }) => resolve(message.port));
      child.once('exit', (code) => reject(new Error(`sample process exited with ${code} before it listened`)));
    });
    return new SampleProcess(child, `http://127.0.0.1:${port}`);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

/** Rejects when `promise` has not settled after `ms`: a hang detector, not a timing assertion. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
