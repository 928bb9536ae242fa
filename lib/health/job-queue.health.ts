import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import type { QueueBackend } from '../backends/queue-backend.interface';
import { describePaused } from '../backends/pause-levels';
import { JobCancelDispatcher } from '../cancel/job-cancel.dispatcher';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../job-queue.options';
import { describeError } from '../utils/episode-logger';
import { TIMED_OUT, within } from '../utils/within';
import { JobWatchdog } from '../watchdog/job-watchdog.service';
import { JobWorker } from '../worker/job-worker.service';
import { JobQueueService } from '../job-queue.service';

/** Options of {@link JobQueueHealthIndicator.isHealthy}. */
export interface JobQueueHealthOptions {
  /** PING timeout, ms. Default 1 000. */
  timeoutMs?: number;
  /** The cancel subscription may be down this long before the check fails, ms. Default 5 000. */
  dispatcherDownMs?: number;
}

/**
 * A @nestjs/terminus indicator: backend reachability (PING with a timeout, latency), the cancel
 * subscription, the watchdog's last sweep and the jobs active here. Never throws: every problem
 * is a `down` result with a reason. Reports "shutting down" once shutdown began.
 */
@Injectable()
export class JobQueueHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly dispatcher: JobCancelDispatcher,
    private readonly watchdog: JobWatchdog,
    private readonly worker: JobWorker,
    private readonly jobs: JobQueueService,
  ) {}

  async isHealthy<const Key extends string = 'job-queue'>(
    key: Key = 'job-queue' as Key,
    opts: JobQueueHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const session = this.health.check(key);
    const timeoutMs = opts.timeoutMs ?? 1_000;
    const dispatcherDownMs = opts.dispatcherDownMs ?? 5_000;
    const dispatcher = this.dispatcher.stats();
    const watchdog = this.watchdog.stats();
    const details = {
      backend: this.backend.kind,
      activeJobs: this.worker.stats().active,
      dispatcher: dispatcher.subscribed ? 'subscribed' : 'disconnected',
      watchdogLastSweepAgeMs: watchdog.lastSweepAt === undefined ? null : Date.now() - watchdog.lastSweepAt,
    };
    if (this.jobs.isShuttingDown) return session.down({ ...details, message: 'shutting down' });
    let reply: [number, string[]] | typeof TIMED_OUT;
    try {
      // The pause state is read beside the ping: shown in the details, never a reason to be down.
      reply = await within(Promise.all([this.backend.ping(), this.backend.paused()]), timeoutMs);
    } catch (err) {
      return session.down({ ...details, message: `backend unreachable: ${describeError(err)}` });
    }
    if (reply === TIMED_OUT) return session.down({ ...details, message: `backend ping timed out after ${timeoutMs} ms` });
    const [latencyMs, pausedLevels] = reply;
    const paused = describePaused(pausedLevels);
    if (dispatcher.downSince !== undefined && Date.now() - dispatcher.downSince > dispatcherDownMs) {
      return session.down({ ...details, latencyMs, paused, message: `cancel subscription down for ${Date.now() - dispatcher.downSince} ms` });
    }
    const sweepAge = details.watchdogLastSweepAgeMs;
    if (sweepAge !== null && sweepAge > 3 * this.options.watchdog.intervalMs) {
      return session.down({ ...details, latencyMs, paused, message: `watchdog has not swept for ${sweepAge} ms` });
    }
    return session.up({ ...details, latencyMs, paused });
  }
}
