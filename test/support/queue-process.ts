import { ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type { ChildCommand, ChildReport } from './queue-process.protocol';

/** Longest a graceful close() may take in teardown before the child is killed. */
const CLOSE_BOUND_MS = 20_000;

type CommandBody = ChildCommand extends infer C ? (C extends { seq: number } ? Omit<C, 'seq'> : never) : never;

/** Options of one child process: module options plus handler settings. */
export interface QueueProcessSettings {
  module?: Record<string, unknown>;
  worker?: boolean;
  concurrency?: number;
  /** Seed nodes of a Redis Cluster: the process passes its own ioredis `Cluster` as option `redis`. */
  clusterSeeds?: Array<{ host: string; port: number }>;
  /** Register @OnJobEvent hooks for every lifecycle event of 'work' jobs; each call is reported. */
  hooks?: boolean;
  /** Options of the 'throttled' and 'capped' handlers (concurrency from `concurrency`). */
  throttled?: { rateLimit?: { max: number; perMs: number }; globalConcurrency?: number };
  capped?: { rateLimit?: { max: number; perMs: number }; globalConcurrency?: number };
}

/**
 * The test side of a child process running the module against the same Redis: sends commands,
 * awaits replies, and re-emits everything the child reports as events.
 */
export class QueueProcess extends EventEmitter {
  readonly reports: ChildReport[] = [];
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly settings: QueueProcessSettings,
  ) {
    super();
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.on('message', (message: ChildReport) => {
      this.reports.push(message);
      if (message.type === 'reply') {
        const waiter = this.pending.get(message.seq);
        this.pending.delete(message.seq);
        if (message.error)
          waiter?.reject(Object.assign(new Error(message.error.message), { name: message.error.name }));
        else waiter?.resolve(message.value);
      }
      this.emit(message.type, message);
      this.emit('report', message);
    });
    child.once('exit', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`child ${child.pid} exited`));
      this.pending.clear();
    });
  }

  static async start(redisUrl: string, settings: QueueProcessSettings = {}): Promise<QueueProcess> {
    const child = fork(path.join(__dirname, 'queue-process.child.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, REDIS_URL: redisUrl, QUEUE_PROCESS_OPTIONS: JSON.stringify(settings) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const proc = new QueueProcess(child, settings);
    await new Promise<void>((resolve, reject) => {
      proc.once('ready', () => resolve());
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
    });
    return proc;
  }

  /** The key prefix this process uses (processes sharing it share the queue). */
  get prefix(): string {
    return String(this.settings.module?.prefix ?? 'jq');
  }

  get pid(): number {
    return this.child.pid!;
  }

  send<T = unknown>(command: CommandBody): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...command, seq });
    });
  }

  /**
   * Every report the child sent up to now. Reports of different children reach the test in no set
   * order (one child's reply can overtake another's reports), but one child's IPC channel keeps its
   * order: after a round trip to it, all it reported before has arrived.
   */
  async reportsSoFar(): Promise<ChildReport[]> {
    await this.send({ cmd: 'ping' });
    return this.reports;
  }

  /** Resolves with the first report (past or future) matching `predicate`. */
  waitFor<R extends ChildReport>(predicate: (report: ChildReport) => report is R): Promise<R>;
  waitFor(predicate: (report: ChildReport) => boolean): Promise<ChildReport>;
  waitFor(predicate: (report: ChildReport) => boolean): Promise<ChildReport> {
    const seen = this.reports.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const listener = (report: ChildReport) => {
        if (!predicate(report)) return;
        this.off('report', listener);
        resolve(report);
      };
      this.on('report', listener);
    });
  }

  /** Graceful: closes the Nest app (drain) and waits for the process to exit. */
  /**
   * Graceful: the child closes its app and exits. Teardown must not hang a suite on a loaded host,
   * so past CLOSE_BOUND_MS it is SIGKILLed (tests of the shutdown itself assert on it directly).
   */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.send({ cmd: 'close' }).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_BOUND_MS)));
    await Promise.race([this.exited, bound]);
    clearTimeout(timer);
    if (this.child.exitCode === null && this.child.signalCode === null) await this.kill();
  }

  /** Abrupt: SIGKILL, as a crashed worker. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** The reports of `type` the given children sent up to now (see `QueueProcess.reportsSoFar`). */
export async function reportsSoFar<T extends ChildReport['type']>(
  procs: QueueProcess[],
  type: T,
): Promise<Array<Extract<ChildReport, { type: T }>>> {
  const all = await Promise.all(procs.map((p) => p.reportsSoFar()));
  return all.flat().filter((r): r is Extract<ChildReport, { type: T }> => r.type === type);
}
