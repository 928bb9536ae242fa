import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import { describePaused } from '../backends/pause-levels';
import type { ResolvedJobQueueOptions } from '../job-queue.options';
import { JobQueueService } from '../job-queue.service';
import { JobQueueMetricsCollector } from '../metrics/job-queue-metrics.collector';
import { describeError } from '../utils/episode-logger';
import { TIMED_OUT, within } from '../utils/within';

/** Options of {@link JobQueueHealthIndicator.isHealthy}. */
export interface JobQueueHealthOptions {
  /** PING timeout, ms. Default 1 000. */
  timeoutMs?: number;
  /** The cancel subscription may be down this long before the check fails, ms. Default 5 000. */
  dispatcherDownMs?: number;
}

/**
 * A `@nestjs/terminus` indicator: backend reachability (PING with a timeout, latency), the
 * connections for pickup and live events (when this process uses them), the cancel subscription,
 * the watchdog's last sweep and the jobs active here. Never throws: every problem is a `down`
 * result with a reason. Reports "shutting down" once shutdown began.
 * Provided by `JobQueueHealthModule` (import it from `nestjs-job-queue/health`).
 */
@Injectable()
export class JobQueueHealthIndicator {
  /** @internal Nest injects the dependencies; not constructed by hand. */
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly collector: JobQueueMetricsCollector,
    private readonly jobs: JobQueueService,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
  ) {}

  async isHealthy<const Key extends string = 'job-queue'>(
    key: Key = 'job-queue' as Key,
    opts: JobQueueHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const session = this.health.check(key);
    const timeoutMs = opts.timeoutMs ?? 1_000;
    const dispatcherDownMs = opts.dispatcherDownMs ?? 5_000;
    const { backend, worker, dispatcher, watchdog } = this.collector.local();
    const details = {
      backend,
      activeJobs: worker.active,
      dispatcher: dispatcher.subscribed ? 'subscribed' : 'disconnected',
      watchdogLastSweepAgeMs: watchdog.lastSweepAt === undefined ? null : Date.now() - watchdog.lastSweepAt,
    };
    if (this.jobs.isShuttingDown) return session.down({ ...details, message: 'shutting down' });
    let reply: [number, string[]] | typeof TIMED_OUT;
    try {
      // The pause state is read beside the ping: shown in the details, never a reason to be down.
      reply = await within(Promise.all([this.collector.ping(), this.collector.paused()]), timeoutMs);
    } catch (err) {
      return session.down({ ...details, message: `backend unreachable: ${describeError(err)}` });
    }
    if (reply === TIMED_OUT)
      return session.down({ ...details, message: `backend ping timed out after ${timeoutMs} ms` });
    const [latencyMs, pausedLevels] = reply;
    const paused = describePaused(pausedLevels);
    // A worker that cannot pick up work, or a process that cannot deliver live events, is not healthy
    // even though the store answers (e.g. on a Redis Cluster master that lost the queue's slot).
    const connections = await this.collector.connectionStates();
    const broken = (['pickup', 'events'] as const).filter((role) => connections[role] === 'down');
    if (broken.length > 0) {
      return session.down({
        ...details,
        latencyMs,
        paused,
        connections,
        message: `${broken.join(' and ')} connection down`,
      });
    }
    if (dispatcher.downSince !== undefined && Date.now() - dispatcher.downSince > dispatcherDownMs) {
      return session.down({
        ...details,
        latencyMs,
        paused,
        message: `cancel subscription down for ${Date.now() - dispatcher.downSince} ms`,
      });
    }
    const sweepAge = details.watchdogLastSweepAgeMs;
    if (sweepAge !== null && sweepAge > 3 * this.options.watchdog.intervalMs) {
      return session.down({ ...details, latencyMs, paused, message: `watchdog has not swept for ${sweepAge} ms` });
    }
    return session.up({ ...details, latencyMs, paused });
  }
}
