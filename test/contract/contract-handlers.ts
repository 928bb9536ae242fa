import { Injectable } from '@nestjs/common';
import { Job, JobContext, JobHandler, UnrecoverableJobError } from '../../lib';
import { DeferredMap } from '../support/deferred';

/** What the contract tests observe of the handlers, and the gates they use to steer them. */
export class HandlerProbe {
  readonly started = new DeferredMap<JobContext>();
  readonly release = new DeferredMap<unknown>();
  readonly aborted = new DeferredMap<unknown>();
  /** Resolved as a handler returns its value (before the worker sees it). */
  readonly returned = new DeferredMap<unknown>();
  readonly startOrder: string[] = [];
  runs = new Map<string, number>();
  /** Handlers of each name running right now, and the most ever seen at once. */
  readonly inFlight = new Map<string, number>();
  readonly maxInFlight = new Map<string, number>();

  count(jobId: string): void {
    this.runs.set(jobId, (this.runs.get(jobId) ?? 0) + 1);
  }

  /** Counts a handler of `name` as running until the returned function is called. */
  enter(name: string): () => void {
    const now = (this.inFlight.get(name) ?? 0) + 1;
    this.inFlight.set(name, now);
    this.maxInFlight.set(name, Math.max(now, this.maxInFlight.get(name) ?? 0));
    return () => this.inFlight.set(name, this.inFlight.get(name)! - 1);
  }
}

/** Aborts waiting on `signal`; resolves with the abort reason. */
function whenAborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(signal.reason);
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

@Injectable()
export class ContractHandlers {
  constructor(private readonly probe: HandlerProbe) {}

  @JobHandler('echo', { concurrency: 4 })
  async echo(job: Job<unknown>, ctx: JobContext) {
    this.probe.count(job.id);
    await ctx.emit('token', { text: 'hello' });
    await ctx.progress(0.5);
    return { echoed: job.data, attempt: ctx.attempt };
  }

  /** Runs until the test releases it (resolves with the released value) or its signal aborts (throws). */
  @JobHandler('gated', { concurrency: 4 })
  async gated(job: Job, ctx: JobContext) {
    this.probe.count(job.id);
    this.probe.startOrder.push(job.id);
    this.probe.started.get(job.id).resolve(ctx);
    const reason = await Promise.race([
      this.probe.release.get(job.id).promise.then(() => undefined),
      whenAborted(ctx.signal),
    ]);
    if (reason !== undefined) {
      this.probe.aborted.get(job.id).resolve(reason);
      throw reason;
    }
    return this.probe.release.get(job.id).promise;
  }

  /** Ignores its signal: finishes only when the test releases it. */
  @JobHandler('stubborn', { concurrency: 2 })
  async stubborn(job: Job, ctx: JobContext) {
    this.probe.count(job.id);
    this.probe.started.get(job.id).resolve(ctx);
    void whenAborted(ctx.signal).then((reason) => this.probe.aborted.get(job.id).resolve(reason));
    const result = await this.probe.release.get(job.id).promise;
    this.probe.returned.get(job.id).resolve(result);
    return result;
  }

  /**
   * One at a time, and ignores its signal: runs until the test releases `<jobId>:<attempt>`
   * (started is signalled under the same key). For the rule that an overdue handler keeps its slot.
   */
  @JobHandler('solo', { concurrency: 1 })
  async solo(job: Job, ctx: JobContext) {
    const leave = this.probe.enter('solo');
    const key = `${job.id}:${ctx.attempt}`;
    this.probe.started.get(key).resolve(ctx);
    try {
      return await this.probe.release.get(key).promise;
    } finally {
      leave();
    }
  }

  /** Blocks the event loop for `ms` (a CPU-bound step), then returns. */
  @JobHandler('blocking', { concurrency: 1 })
  async blocking(job: Job<{ ms: number }>) {
    this.probe.count(job.id);
    const until = Date.now() + job.data.ms;
    while (Date.now() < until) {
      // busy: no timer, heartbeat or sweep can run meanwhile
    }
    return 'done';
  }

  /** One at a time, in claim order: for priority and FIFO tests. */
  @JobHandler('serial', { concurrency: 1 })
  async serial(job: Job, ctx: JobContext) {
    return this.gated(job, ctx);
  }

  /** Fails its first `failTimes` attempts (with `message`, or 'boom <attempt>'). */
  @JobHandler('flaky', { concurrency: 2 })
  async flaky(job: Job<{ failTimes: number; message?: string }>, ctx: JobContext) {
    this.probe.count(job.id);
    if (ctx.attempt <= job.data.failTimes) throw new Error(job.data.message ?? `boom ${ctx.attempt}`);
    return { attempt: ctx.attempt };
  }

  /** Emits `count` custom events, then returns. */
  @JobHandler('chatty', { concurrency: 2 })
  async chatty(job: Job<{ count: number }>, ctx: JobContext) {
    for (let i = 0; i < job.data.count; i++) void ctx.emit('token', { i });
    return { emitted: job.data.count };
  }

  /** Reports what ctx.emit does with a reserved type. */
  @JobHandler('reserved')
  async reserved(_job: Job, ctx: JobContext) {
    try {
      await ctx.emit('completed', {});
      return { threw: null };
    } catch (err) {
      return { threw: (err as Error).name };
    }
  }

  /** Gives up at once with UnrecoverableJobError(data.message), whatever attempts remain. */
  @JobHandler('doomed')
  async doomed(job: Job<{ message: string }>) {
    this.probe.count(job.id);
    throw new UnrecoverableJobError(job.data.message);
  }

  /** Rate-limited across processes: at most 2 starts in any 300 ms. */
  @JobHandler('throttled', { concurrency: 4, rateLimit: { max: 2, perMs: 300 } })
  async throttled(job: Job) {
    this.probe.count(job.id);
    return job.startedAt;
  }

  /** At most 2 running across processes, though 4 may run here: gated like 'gated', counted in inFlight. */
  @JobHandler('capped', { concurrency: 4, globalConcurrency: 2 })
  async capped(job: Job, ctx: JobContext) {
    const leave = this.probe.enter('capped');
    try {
      return await this.gated(job, ctx);
    } finally {
      leave();
    }
  }
}
