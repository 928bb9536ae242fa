import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { CancelMessage, QueueBackend } from '../backends/queue-backend.interface';
import type { CancelResult } from '../interfaces/job.interface';
import { JOB_QUEUE_BACKEND } from '../job-queue.constants';
import { JobQueueProbes } from '../metrics/job-queue-probes';
import { validateCancelReason, validateJobId } from '../validation/job-input.validator';
import { describeError } from '../utils/episode-logger';
import type { CancelLanding } from '../worker/held-cancels';
import { JobWorker } from '../worker/job-worker.service';
import { JobEventHooks } from '../queue-events/job-event-hooks';

/** Dispatcher counters, part of `metrics()`. */
export interface JobCancelDispatcherStats {
  subscribed: boolean;
  /** Epoch ms since when the subscription is down (absent while up). */
  downSince?: number;
  /** Cancels of active jobs requested here and announced to other processes. */
  published: number;
  /** Cancels requested here for a job running here (no round trip). */
  deliveredLocal: number;
  /** Announcements from other processes that aborted a job running here. */
  deliveredRemote: number;
  /** Cancels found on the job records after a resubscribe (missed while disconnected). */
  recovered: number;
  reconnects: number;
  errors: number;
}

/** How long application boot waits for the cancel subscription (a Redis round trip or two normally). */
const SUBSCRIBE_WAIT_MS = 5_000;

/**
 * Turns a cancel requested in any process into the abort of `ctx.signal` in the process that runs
 * the job: locally without a round trip, remotely through one subscription per process. Cancels
 * published while the subscription was down are recovered from the job records on resubscribe
 * (and on the owner's next lease renewal at the latest).
 */
@Injectable()
export class JobCancelDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  /** Identifies this process in cancel announcements, so it skips its own. */
  readonly origin = randomUUID();
  private readonly logger = new Logger('JobCancelDispatcher');
  private readonly unsubscribe: Array<() => void> = [];
  private readonly counters = {
    published: 0,
    deliveredLocal: 0,
    deliveredRemote: 0,
    recovered: 0,
    reconnects: 0,
    errors: 0,
  };
  private subscribed = false;
  private everSubscribed = false;
  /** Resolves the boot wait on the first 'up'. */
  private firstUp?: () => void;
  private downSince?: number = Date.now();

  /** @internal Nest injects the dependencies; not constructed by hand. */
  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    private readonly worker: JobWorker,
    private readonly hooks: JobEventHooks,
    private readonly probes: JobQueueProbes,
  ) {}

  /**
   * Subscribes, and lets the application finish booting once the subscription is up (bounded by
   * SUBSCRIBE_WAIT_MS), so a freshly started process reports healthy and hears cancels from the
   * start. Past the bound it boots anyway, says so, and keeps trying (health reports it down).
   * (Nest's close() awaits the boot first, so a shutdown during this wait waits for it too.)
   * @internal
   */
  async onApplicationBootstrap(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const up = new Promise<boolean>((resolve) => {
      this.firstUp = () => resolve(true);
      timer = setTimeout(() => resolve(false), SUBSCRIBE_WAIT_MS);
    });
    this.unsubscribe.push(
      this.backend.onCancelRequest(
        (message) => this.onRemoteCancel(message),
        () => this.counters.errors++,
      ),
      this.backend.onSubscriptionState((state) => this.onState(state)),
    );
    const subscribed = await up;
    clearTimeout(timer);
    this.firstUp = undefined;
    if (!subscribed) {
      this.logger.warn(
        `The cancel subscription is not up after ${SUBSCRIBE_WAIT_MS} ms; starting anyway and retrying (health reports it down until then).`,
      );
    }
  }

  /** @internal Lets go of the cancel subscription; the module closes the backend afterwards. */
  onApplicationShutdown(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.subscribed = false;
  }

  /**
   * Cancels a job: waiting/delayed ones atomically in the store; an active one is marked on its
   * record, aborted here directly when it runs here, else announced. Throws InvalidJobError for a
   * malformed id or reason (nothing written).
   */
  async cancel(jobId: string, reason: string): Promise<CancelResult> {
    validateJobId(jobId);
    validateCancelReason(reason);
    const requestedAt = Date.now();
    const result = await this.backend.cancel(jobId, reason, this.origin);
    if (result === 'cancelled') {
      this.hooks.notify(jobId, 'cancelled');
      this.probes.cancelledInStore(jobId);
    }
    if (result === 'cancelling') {
      // Reported at once, or after the claim in flight when the job may be in its reply.
      this.worker.cancelLocal(jobId, reason, (landed) => {
        if (landed === 'applied') {
          this.counters.deliveredLocal++;
          this.probes.cancelDelivered('local', Date.now() - requestedAt);
        } else if (landed === 'elsewhere') this.counters.published++;
      });
    }
    return result;
  }

  /** Whether the subscription is up, and since when it is down. */
  get isSubscribed(): boolean {
    return this.subscribed;
  }

  stats(): JobCancelDispatcherStats {
    return {
      subscribed: this.subscribed,
      ...(this.downSince !== undefined && { downSince: this.downSince }),
      ...this.counters,
    };
  }

  private onRemoteCancel(message: CancelMessage): void {
    // A bug or bad message must never stop the subscription.
    try {
      if (message.origin === this.origin) return;
      const { sentAt } = message;
      this.worker.cancelLocal(message.jobId, message.reason, (landed) => {
        if (landed !== 'applied') return;
        this.counters.deliveredRemote++;
        if (sentAt !== undefined) this.probes.cancelDelivered('remote', Math.max(0, Date.now() - sentAt));
      });
    } catch (err) {
      this.counters.errors++;
      this.logger.error(`Cancel message for job '${message?.jobId}' could not be handled: ${describeError(err)}`);
    }
  }

  private onState(state: 'up' | 'down'): void {
    if (state === 'down') {
      if (this.subscribed) this.downSince = Date.now();
      this.subscribed = false;
      return;
    }
    if (this.subscribed) return;
    this.subscribed = true;
    this.downSince = undefined;
    if (this.everSubscribed) {
      this.counters.reconnects++;
      this.probes.dispatcherReconnected();
    }
    this.everSubscribed = true;
    this.firstUp?.();
    // Also on the first 'up': a job claimed before it may have been cancelled meanwhile.
    void this.recoverMissedCancels();
  }

  private countIfApplied(counter: 'deliveredRemote' | 'recovered'): (landed: CancelLanding) => void {
    return (landed) => {
      if (landed === 'applied') this.counters[counter]++;
    };
  }

  /** Cancels announced while we were not listening are still on the job records. */
  private async recoverMissedCancels(): Promise<void> {
    const ids = this.worker.localJobIds();
    if (ids.length === 0) return;
    try {
      const reasons = await this.backend.cancelRequests(ids);
      reasons.forEach((reason, i) => {
        if (reason !== null) this.worker.cancelLocal(ids[i], reason, this.countIfApplied('recovered'));
      });
    } catch (err) {
      this.counters.errors++;
      this.logger.warn(
        `Could not check for cancels missed while disconnected: ${describeError(err)}; lease renewal will deliver them.`,
      );
    }
  }
}
