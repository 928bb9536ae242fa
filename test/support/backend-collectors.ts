import type { JobEvent } from '../../lib/interfaces/job.interface';
import { Deferred } from './deferred';

/** Collects what the backend logs, so tests can check "logged once" and keep the output quiet. */
export class CapturingLogger {
  readonly lines: Array<{ level: string; message: string }> = [];
  log = (message: string) => this.lines.push({ level: 'log', message });
  warn = (message: string) => this.lines.push({ level: 'warn', message });
  error = (message: string) => this.lines.push({ level: 'error', message });
  count(pattern: RegExp): number {
    return this.lines.filter((l) => pattern.test(l.message)).length;
  }
}

/** Receives subscription batches; `until(n)` resolves once n events arrived. */
export class EventCollector {
  readonly events: JobEvent[] = [];
  readonly errors: Error[] = [];
  /** Resolves with the first error. */
  readonly failed = new Deferred<Error>();
  private waiters: Array<{ n: number; d: Deferred<JobEvent[]> }> = [];
  next = (events: JobEvent[]) => {
    this.events.push(...events);
    this.waiters = this.waiters.filter((w) => {
      if (this.events.length < w.n) return true;
      w.d.resolve(this.events.slice());
      return false;
    });
  };
  error = (err: Error) => {
    this.errors.push(err);
    this.failed.resolve(err);
  };
  until(n: number): Promise<JobEvent[]> {
    if (this.events.length >= n) return Promise.resolve(this.events.slice());
    const d = new Deferred<JobEvent[]>();
    this.waiters.push({ n, d });
    return d.promise;
  }
}

/** A backend logger that drops everything (suites that assert on behaviour, not on logs). */
export const silentLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
