import { Logger } from '@nestjs/common';
import type { ClaimedJob, Lease, QueueBackend } from '../backends/queue-backend.interface';
import type { RegisteredJobHandler } from '../discovery/job-handler.registry';
import { InvalidJobError, JobAbortKind, JobAbortedError, UnrecoverableJobError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { Job, JobContext } from '../interfaces/job.interface';
import type { ResolvedJobQueueOptions } from '../job-queue.options';
import { describeError } from '../utils/episode-logger';
import { serializePayload, validateCustomEventType } from '../validation/job-input.validator';
import { retryDelayMs } from './backoff';

/** How an attempt ended, for the worker's counters. */
export type AttemptOutcome = 'completed' | 'failed' | 'retrying' | 'cancelled' | 'released' | 'lost';

/** Backoff of outcome writes while the store is unreachable (see RunningJob.record). */
const OUTCOME_RETRY_FIRST_MS = 50;
const OUTCOME_RETRY_MAX_MS = 1_000;

/** Longest handler error message stored (characters). */
const MAX_ERROR_LENGTH = 4_096;

/** How a RunningJob reports back to the worker. */
export interface RunningJobHooks {
  /**
   * The handler settled and the attempt's outcome is decided (it may still be being written): its
   * concurrency slot is free. Lets the next claim overlap that write. A handler that outlives its
   * attempt (it ignored its signal past the grace) keeps the slot until it settles.
   */
  slotFreed(run: RunningJob): void;
  /** The attempt ended while the handler still runs: it holds its slot until it settles. */
  overdue(run: RunningJob, reason: JobAbortedError | undefined): void;
  /** The outcome was written (or discarded): the attempt is over. */
  ended(run: RunningJob, outcome: AttemptOutcome): void;
  /** The handler's `progress` or custom event was written (for @OnJobEvent hooks). */
  wrote(run: RunningJob, type: string): void;
  /** A `progress` or custom event could not be written (the store is unreachable): it is lost. */
  writeFailed(run: RunningJob, err: unknown): void;
}

/**
 * One attempt of one job in this process: builds the handler's context, owns the attempt's
 * timers (timeout, cancel grace) and writes exactly one outcome, fenced by the claim token.
 * Whatever settles first (handler, grace expiry, shutdown hand-back, lost lease) wins; later
 * outcomes are discarded.
 */
export class RunningJob {
  readonly lease: Lease;
  readonly job: Job;
  /**
   * Created when the handler first reads `ctx.signal` (an AbortController is the costliest object
   * of an attempt, and a short handler often never looks at it); aborted at once if the attempt
   * was aborted before.
   */
  private controller?: AbortController;
  /** Why the attempt was aborted (cancel, timeout, shutdown, lost lease); set once. */
  private abortedWith?: JobAbortedError;
  private timeoutTimer?: NodeJS.Timeout;
  private graceTimer?: NodeJS.Timeout;
  private ended = false;
  private handlerSettled = false;
  private recorded = false;
  private readonly settled: Promise<void>;
  private resolveSettled!: () => void;

  constructor(
    private readonly claimed: ClaimedJob,
    private readonly handler: RegisteredJobHandler,
    private readonly backend: QueueBackend,
    private readonly options: ResolvedJobQueueOptions,
    private readonly hooks: RunningJobHooks,
    private readonly logger: Logger,
  ) {
    this.job = claimed.job;
    this.lease = { jobId: claimed.job.id, token: claimed.token };
    this.settled = new Promise((resolve) => (this.resolveSettled = resolve));
  }

  /** Resolves once the attempt's outcome has been written (or discarded). */
  get done(): Promise<void> {
    return this.settled;
  }

  /** The attempt's outcome is decided (the handler may still run: see RunningJobHooks.overdue). */
  get isEnded(): boolean {
    return this.ended;
  }

  /** The outcome was written (or discarded); until then the lease must be kept alive. */
  get isRecorded(): boolean {
    return this.recorded;
  }

  start(): void {
    if (this.claimed.cancelRequested !== undefined) this.cancel(this.claimed.cancelRequested);
    if (this.claimed.timeoutMs !== undefined && !this.ended) {
      this.timeoutTimer = setTimeout(
        () => this.abortFor('timeout', `timed out after ${this.claimed.timeoutMs} ms`),
        this.claimed.timeoutMs,
      );
    }
    this.handler.run(this.job, this.context()).then(
      (result) => this.onHandlerSettled({ ok: true, result }),
      (error: unknown) => this.onHandlerSettled({ ok: false, error }),
    );
  }

  /**
   * Aborts the signal with a cancel; after `cancelGraceMs` the job is finished as cancelled
   * regardless. True when this call aborted it (false: already aborted or ended).
   */
  cancel(reason: string): boolean {
    return this.abortFor('cancel', reason);
  }

  /** Shutdown: aborts the handler and hands the job back to the queue at once. */
  async release(): Promise<void> {
    if (this.ended) return;
    this.abort(new JobAbortedError('shutdown', 'the process is shutting down'));
    // No retries at shutdown: a hand-back that cannot be written is reclaimed after the lease.
    await this.end(() => this.backend.release(this.lease), false);
  }

  /** The lease was taken over elsewhere: stop without writing anything. */
  lost(): void {
    if (this.ended) return;
    this.abort(new JobAbortedError('lease-lost', 'the lease expired and the job was reclaimed'));
    void this.end(async () => 'lost');
  }

  /** The handler's signal (see `controller`). */
  private get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedWith) this.controller.abort(this.abortedWith);
    }
    return this.controller.signal;
  }

  private abort(reason: JobAbortedError): void {
    if (this.abortedWith) return;
    this.abortedWith = reason;
    this.controller?.abort(reason);
  }

  private get abortReason(): JobAbortedError | undefined {
    return this.abortedWith;
  }

  private abortFor(kind: JobAbortKind, reason: string): boolean {
    if (this.ended || this.abortedWith) return false;
    this.abort(new JobAbortedError(kind, reason));
    // A handler that ignores its signal must not hold the job forever.
    this.graceTimer = setTimeout(() => void this.end(() => this.writeAbortOutcome()), this.options.cancelGraceMs);
    return true;
  }

  private onHandlerSettled(outcome: { ok: true; result: unknown } | { ok: false; error: unknown }): void {
    this.handlerSettled = true;
    if (this.ended) {
      // An overdue handler finally settled: its job ended long ago; only the slot was still held.
      this.hooks.slotFreed(this);
      return;
    }
    void this.end(async () => {
      if (this.abortReason) return this.writeAbortOutcome();
      if (outcome.ok) return this.writeResult(outcome.result);
      return this.writeFailure(describeError(outcome.error), !(outcome.error instanceof UnrecoverableJobError));
    });
  }

  private async writeResult(result: unknown): Promise<AttemptOutcome> {
    let json: string;
    try {
      json = serializePayload(result ?? null, this.options.maxPayloadBytes, Messages.resultTooLarge);
    } catch (err) {
      return this.writeFailure(`invalid result: ${describeError(err)}`);
    }
    return this.backend.complete(this.lease, json);
  }

  /** `retryable` false (UnrecoverableJobError): no retry delay, so the job fails for good. */
  private async writeFailure(error: string, retryable = true): Promise<AttemptOutcome> {
    const delay = retryable ? retryDelayMs(this.claimed.backoff, this.job.attempt) : undefined;
    // The message lands on the record, in an event and in every subscriber's stream: keep it short.
    const limit = Math.min(MAX_ERROR_LENGTH, this.options.maxPayloadBytes);
    return this.backend.fail(this.lease, error.length > limit ? `${error.slice(0, limit)}… (truncated)` : error, delay);
  }

  /** A cancelled attempt ends cancelled (never retried); a timed-out one fails (and may retry). */
  private async writeAbortOutcome(): Promise<AttemptOutcome> {
    const reason = this.abortReason!;
    if (reason.kind === 'timeout') return this.writeFailure(reason.reason);
    return (await this.backend.finishCancelled(this.lease, reason.reason)) ? 'cancelled' : 'lost';
  }

  /** Runs `write` once for the attempt, whatever settles first; later calls are no-ops. */
  private async end(write: () => Promise<AttemptOutcome>, retry = true): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timeoutTimer);
    clearTimeout(this.graceTimer);
    if (this.handlerSettled) this.hooks.slotFreed(this);
    else this.hooks.overdue(this, this.abortReason);
    const outcome = await this.record(write, retry);
    this.recorded = true;
    this.hooks.ended(this, outcome);
    this.resolveSettled();
  }

  /**
   * Writes the outcome. While the store is unreachable (a restart, a Cluster failover) the write is
   * retried, with capped backoff, for up to `leaseMs`: the lease is renewed meanwhile (the attempt is
   * not recorded yet), so the job is not reclaimed as stalled while its result waits. Writes are
   * fenced by the claim token, so a retry can never overwrite a newer owner. Past that the job is
   * left to the watchdog ('lost').
   */
  private async record(write: () => Promise<AttemptOutcome>, retry: boolean): Promise<AttemptOutcome> {
    const giveUpAt = Date.now() + this.options.leaseMs;
    for (let delay = OUTCOME_RETRY_FIRST_MS; ; delay = Math.min(delay * 2, OUTCOME_RETRY_MAX_MS)) {
      try {
        return await write();
      } catch (err) {
        if (!retry || Date.now() + delay > giveUpAt) {
          this.logger.error(
            `Could not record the outcome of job '${this.job.id}': ${describeError(err)}; the watchdog will reclaim it.`,
          );
          return 'lost';
        }
        // Unref'd: a write still retrying must not hold a process that is closing.
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }

  private context(): JobContext {
    const run = this;
    return {
      get signal(): AbortSignal {
        return run.signal;
      },
      attempt: this.job.attempt,
      emit(type: string, data?: unknown): Promise<void> {
        validateCustomEventType(type);
        const json = data === undefined ? undefined : serializePayload(data, run.options.maxPayloadBytes);
        return run.write(type, () => run.backend.emit(run.lease, type, json));
      },
      progress(value: number | object): Promise<void> {
        if (typeof value === 'number' ? !Number.isFinite(value) : typeof value !== 'object' || value === null) {
          throw new InvalidJobError(Messages.invalidOption('progress', 'a finite number or an object', value));
        }
        const json = serializePayload(value, run.options.maxPayloadBytes);
        return run.write('progress', () => run.backend.progress(run.lease, json));
      },
    };
  }

  /**
   * Event writes from the handler: dropped once the attempt ended (a late emit must not follow the
   * terminal event), and never rejected, so an un-awaited emit cannot crash the process.
   */
  private async write(type: string, op: () => Promise<boolean>): Promise<void> {
    if (this.ended) return;
    try {
      // A fenced write of a lost lease wrote no event: no hook for it.
      if (await op()) this.hooks.wrote(this, type);
    } catch (err) {
      this.hooks.writeFailed(this, err);
    }
  }
}
