import type { Logger } from '@nestjs/common';
import { type Counter, type Registry, register as defaultRegistry } from 'prom-client';
import type { QueueBackend } from '../../backends/queue-backend.interface';
import type { Job } from '../../interfaces/job.interface';
import type { JobQueueMetricsRegistry } from '../../job-queue.options';
import { EpisodeLogger } from '../../utils/episode-logger';
import type { AttemptOutcome } from '../../worker/running-job';
import type { CancelDeliveryPath, JobQueueProbe, SweptJobIds } from '../job-queue-probes';
import { JobQueueMetricSet, type MetricSource } from './prometheus-metrics';

/** What the probe reads from its module. */
export interface PrometheusProbeSource {
  /** The `queue` label: the queue's prefix. */
  queue: string;
  backend: QueueBackend;
  activeByName(): Record<string, number>;
  /** Names with a handler here: reported with 0 rather than missing when they have no jobs. */
  handlerNames(): string[];
  logger: Logger;
}

/**
 * Turns the queue's probe calls into Prometheus metric updates, and the gauges into one bounded
 * backend query per scrape (waiting/delayed per name: cost grows with the number of names, not jobs).
 */
export class PrometheusProbe implements Required<JobQueueProbe>, MetricSource {
  private readonly metrics: JobQueueMetricSet;
  private readonly removeSource: () => void;
  private readonly queue: string;
  private readonly scrapeErrors: EpisodeLogger;
  private readonly lookupErrors: EpisodeLogger;
  /** Name look-ups in flight; a scrape waits for them, so it shows every event that preceded it. */
  private readonly lookups = new Set<Promise<void>>();

  constructor(
    registry: JobQueueMetricsRegistry | undefined,
    private readonly source: PrometheusProbeSource,
  ) {
    this.metrics = JobQueueMetricSet.for((registry as Registry | undefined) ?? defaultRegistry);
    this.queue = source.queue;
    this.scrapeErrors = new EpisodeLogger(source.logger, 'Reading the waiting/delayed counts for a metrics scrape');
    this.lookupErrors = new EpisodeLogger(source.logger, 'Looking up job names for the metrics');
    this.removeSource = this.metrics.addSource(this);
    // Series without a name exist from the start, so rate() sees their first increase.
    const queue = this.queue;
    this.metrics.dispatcherReconnects.inc({ queue }, 0);
    this.metrics.clientGoneCancels.inc({ queue }, 0);
    for (const outcome of ['requeued', 'failed', 'cancelled']) this.metrics.watchdogReclaims.inc({ queue, outcome }, 0);
  }

  close(): void {
    this.removeSource();
  }

  jobsAdded(jobs: readonly Job[]): void {
    for (const job of jobs) this.metrics.added.inc(this.labels(job.name));
  }

  attemptStarted(job: Job): void {
    // add→start is the job's queueing time: a later attempt's start also includes earlier runs.
    if (job.attempt !== 1 || job.startedAt === undefined) return;
    this.metrics.waitSeconds.observe(this.labels(job.name), Math.max(0, job.startedAt - job.createdAt) / 1000);
  }

  attemptEnded(job: Job, outcome: AttemptOutcome): void {
    const counter = this.outcomeCounter(outcome);
    counter?.inc(this.labels(job.name));
    if (job.startedAt !== undefined) {
      this.metrics.runSeconds.observe(
        { ...this.labels(job.name), outcome },
        Math.max(0, Date.now() - job.startedAt) / 1000,
      );
    }
  }

  cancelledInStore(jobId: string): void {
    this.countByName([jobId], [this.metrics.cancelled]);
  }

  cancelDelivered(path: CancelDeliveryPath, latencyMs: number): void {
    this.metrics.cancelDeliverySeconds.observe({ queue: this.queue, path }, latencyMs / 1000);
  }

  dispatcherReconnected(): void {
    this.metrics.dispatcherReconnects.inc({ queue: this.queue });
  }

  watchdogSwept(sweep: SweptJobIds): void {
    const queue = this.queue;
    const { watchdogReclaims, stalled, failed, cancelled } = this.metrics;
    watchdogReclaims.inc({ queue, outcome: 'requeued' }, sweep.stalledRequeued.length);
    watchdogReclaims.inc({ queue, outcome: 'failed' }, sweep.stalledFailed.length);
    watchdogReclaims.inc({ queue, outcome: 'cancelled' }, sweep.stalledCancelled.length);
    this.metrics.clientGoneCancels.inc({ queue }, sweep.clientGone.length);
    // A reclaimed job that ended failed or cancelled is also a failed or cancelled job.
    this.countByName(sweep.stalledRequeued, [stalled]);
    this.countByName(sweep.stalledFailed, [stalled, failed]);
    this.countByName(sweep.stalledCancelled, [stalled, cancelled]);
  }

  /** @internal */
  async settled(): Promise<void> {
    await Promise.all([...this.lookups]);
  }

  /** @internal Writes this queue's gauge series (called on scrape by the metric set). */
  async collect(metrics: JobQueueMetricSet): Promise<void> {
    const names = this.source.handlerNames();
    for (const [name, count] of Object.entries(this.source.activeByName()))
      metrics.active.inc(this.labels(name), count);
    for (const name of names) metrics.active.inc(this.labels(name), 0);
    let pending;
    try {
      pending = await this.source.backend.pendingByName();
      this.scrapeErrors.recovered();
    } catch (err) {
      // The scrape goes on without these series rather than failing as a whole.
      this.scrapeErrors.failed(err);
      return;
    }
    for (const name of names) {
      metrics.waiting.set(this.labels(name), 0);
      metrics.delayed.set(this.labels(name), 0);
    }
    for (const { name, waiting, delayed } of pending) {
      metrics.waiting.set(this.labels(name), waiting);
      metrics.delayed.set(this.labels(name), delayed);
    }
  }

  private labels(name: string): { queue: string; name: string } {
    return { queue: this.queue, name };
  }

  private outcomeCounter(outcome: AttemptOutcome): Counter<'queue' | 'name'> | undefined {
    switch (outcome) {
      case 'completed':
        return this.metrics.completed;
      case 'failed':
        return this.metrics.failed;
      case 'retrying':
        return this.metrics.retried;
      case 'cancelled':
        return this.metrics.cancelled;
      default:
        // 'released' (shutdown hand-back) and 'lost' (reclaimed elsewhere): the job goes on elsewhere.
        return undefined;
    }
  }

  /**
   * Events known by job id only (the store did them): one record read per job, for its name. Only
   * cancels of waiting jobs and watchdog reclaims take this path, both rare.
   */
  private countByName(jobIds: readonly string[], counters: ReadonlyArray<Counter<'queue' | 'name'>>): void {
    if (jobIds.length === 0) return;
    const lookup = this.lookUpAndCount(jobIds, counters).finally(() => this.lookups.delete(lookup));
    this.lookups.add(lookup);
  }

  private async lookUpAndCount(
    jobIds: readonly string[],
    counters: ReadonlyArray<Counter<'queue' | 'name'>>,
  ): Promise<void> {
    try {
      const jobs = await Promise.all(jobIds.map((id) => this.source.backend.get(id)));
      for (const job of jobs) if (job) for (const counter of counters) counter.inc(this.labels(job.name));
      this.lookupErrors.recovered();
    } catch (err) {
      this.lookupErrors.failed(err);
    }
  }
}
