import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { QueueBackend, ReclaimResult } from '../backends/queue-backend.interface';
import { JobCancelDispatcher } from '../cancel/job-cancel.dispatcher';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../job-queue.options';
import { Messages } from '../errors/job-queue.messages';
import { EpisodeLogger, describeError } from '../utils/episode-logger';
import { JobEventHooks } from '../queue-events/job-event-hooks';
import { JobQueueProbes } from '../metrics/job-queue-probes';

/** The reason given to jobs cancelled because their client went away. */
export const CLIENT_GONE_REASON = 'client-gone';
/** Most idle-client jobs cancelled per sweep, so one sweep stays short. */
const CLIENT_SWEEP_BATCH = 500;

/** Watchdog counters, part of `metrics()`. */
export interface JobWatchdogStats {
  running: boolean;
  sweeps: number;
  lastSweepAt?: number;
  stalledRequeued: number;
  stalledFailed: number;
  stalledCancelled: number;
  clientGoneCancelled: number;
  errors: number;
}

/** What one sweep did. */
export interface JobWatchdogSweep {
  stalledRequeued: string[];
  stalledFailed: string[];
  stalledCancelled: string[];
  clientGone: string[];
}

/**
 * Every `watchdog.intervalMs`: reclaims active jobs whose lease expired (their worker died or froze)
 * and cancels `watchClient` jobs whose client has been silent for `watchdog.clientTimeoutMs`.
 * Safe with many processes sweeping at once: every reclaim is one atomic backend step.
 */
@Injectable()
export class JobWatchdog implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('JobWatchdog');
  private readonly errorsLog = new EpisodeLogger(this.logger, 'Watchdog sweep');
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<JobWatchdogSweep>;
  private readonly counters = {
    sweeps: 0,
    stalledRequeued: 0,
    stalledFailed: 0,
    stalledCancelled: 0,
    clientGoneCancelled: 0,
    errors: 0,
  };
  private lastSweepAt?: number;

  /** @internal Nest injects the dependencies; not constructed by hand. */
  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly dispatcher: JobCancelDispatcher,
    private readonly hooks: JobEventHooks,
    private readonly probes: JobQueueProbes,
  ) {}

  /** @internal Starts the sweep timer. */
  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep().catch(() => undefined), this.options.watchdog.intervalMs);
    this.timer.unref();
  }

  /** @internal Stops the timer and waits for a sweep in progress. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping?.catch(() => undefined);
  }

  /** Runs one sweep now (overlapping calls share the sweep in progress). */
  sweep(): Promise<JobWatchdogSweep> {
    this.sweeping ??= this.runSweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  stats(): JobWatchdogStats {
    return {
      running: !!this.timer,
      ...(this.lastSweepAt !== undefined && { lastSweepAt: this.lastSweepAt }),
      ...this.counters,
    };
  }

  private async runSweep(): Promise<JobWatchdogSweep> {
    try {
      const now = Date.now();
      const reclaimed = await this.backend.reclaimExpired(now);
      this.notifyReclaimed(reclaimed);
      const clientGone = await this.cancelIdleClients(now);
      this.counters.sweeps++;
      this.counters.stalledRequeued += reclaimed.requeued.length;
      this.counters.stalledFailed += reclaimed.failed.length;
      this.counters.stalledCancelled += reclaimed.cancelled.length;
      this.counters.clientGoneCancelled += clientGone.length;
      this.lastSweepAt = Date.now();
      this.errorsLog.recovered();
      const sweep = {
        stalledRequeued: reclaimed.requeued,
        stalledFailed: reclaimed.failed,
        stalledCancelled: reclaimed.cancelled,
        clientGone,
      };
      this.probes.watchdogSwept(sweep);
      return sweep;
    } catch (err) {
      this.counters.errors++;
      this.errorsLog.failed(err);
      throw err;
    }
  }

  /** Hooks for what the reclaim wrote: requeued `stalled`; failed `stalled` then `failed`; `cancelled`. */
  private notifyReclaimed({ requeued, failed, cancelled }: ReclaimResult): void {
    for (const id of [...requeued, ...failed]) this.hooks.notify(id, 'stalled');
    for (const id of failed) this.hooks.notify(id, 'failed');
    for (const id of cancelled) this.hooks.notify(id, 'cancelled');
  }

  private async cancelIdleClients(now: number): Promise<string[]> {
    const timeout = this.options.watchdog.clientTimeoutMs;
    if (timeout <= 0) return [];
    const ids = await this.backend.idleClientJobs(now - timeout, CLIENT_SWEEP_BATCH);
    // One bad entry (a malformed id, a damaged record) must not stop the rule for every other job.
    const results = await Promise.allSettled(ids.map((id) => this.dispatcher.cancel(id, CLIENT_GONE_REASON)));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length > 0)
      this.logger.warn(
        Messages.clientGoneCancelFailed(failed.length, describeError((failed[0] as PromiseRejectedResult).reason)),
      );
    return ids.filter((_, i) => {
      const r = results[i];
      return r.status === 'fulfilled' && (r.value === 'cancelled' || r.value === 'cancelling');
    });
  }
}
