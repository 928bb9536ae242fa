import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { JobQueueConfigError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';

/** Labels of the per-name series; `queue` is the queue's `prefix`, so two queues in one app stay apart. */
type NameLabels = 'queue' | 'name';

/** Durations from milliseconds to minutes (jobs wait and run for very different times). */
const JOB_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** A cancel reaches its handler within a round trip or two; seconds mean trouble. */
const CANCEL_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A queue module reporting to the set: asked for its gauge series and pending updates on scrape. */
export interface MetricSource {
  /** Writes its gauge series. */
  collect(metrics: JobQueueMetricSet): Promise<void>;
  /** Resolves once the counter updates it still owes (name look-ups) are applied. */
  settled(): Promise<void>;
}

/** The set's first metric: present on the registry as long as the set is registered there. */
const ADDED_TOTAL = 'jobqueue_jobs_added_total';

/** One set per registry, shared by every queue module that reports to it. */
const setsByRegistry = new WeakMap<Registry, JobQueueMetricSet>();

/**
 * The queue's metrics on one prom-client registry. Created once per registry: several apps or
 * modules in one process that share a registry share these metrics (no double registration), each
 * writing its own `queue` label values. The gauges are collected on scrape from every attached source.
 */
export class JobQueueMetricSet {
  readonly added: Counter<NameLabels>;
  readonly completed: Counter<NameLabels>;
  readonly failed: Counter<NameLabels>;
  readonly cancelled: Counter<NameLabels>;
  readonly retried: Counter<NameLabels>;
  readonly stalled: Counter<NameLabels>;
  readonly waiting: Gauge<NameLabels>;
  readonly delayed: Gauge<NameLabels>;
  readonly active: Gauge<NameLabels>;
  readonly waitSeconds: Histogram<NameLabels>;
  readonly runSeconds: Histogram<NameLabels | 'outcome'>;
  readonly cancelDeliverySeconds: Histogram<'queue' | 'path'>;
  readonly dispatcherReconnects: Counter<'queue'>;
  readonly watchdogReclaims: Counter<'queue' | 'outcome'>;
  readonly clientGoneCancels: Counter<'queue'>;
  private readonly sources = new Set<MetricSource>();
  private refreshing?: Promise<void>;

  static for(registry: Registry): JobQueueMetricSet {
    let set = setsByRegistry.get(registry);
    const registered = registry.getSingleMetric(ADDED_TOTAL);
    // registry.clear() (tests, some apps) unregisters our metrics: start a fresh set then.
    if (!set || registered !== set.added) {
      // Registered by something else, e.g. a second copy of this package in node_modules.
      if (registered) throw new JobQueueConfigError(Messages.metricsTaken(ADDED_TOTAL));
      set = new JobQueueMetricSet(registry);
      setsByRegistry.set(registry, set);
    }
    return set;
  }

  private constructor(registry: Registry) {
    const registers = [registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    // Counters that some events reach only after a record read: a scrape waits for those reads.
    const settledCounter = (name: string, help: string) =>
      new Counter<NameLabels>({ name, help, labelNames: ['queue', 'name'], registers, collect: () => this.settled() });
    const gauge = (name: string, help: string) =>
      new Gauge<NameLabels>({ name, help, labelNames: ['queue', 'name'], registers, collect: () => this.refresh() });
    const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]) =>
      new Histogram<L>({ name, help, labelNames, buckets, registers });

    this.added = counter(ADDED_TOTAL, 'Jobs added through this process.', ['queue', 'name']);
    this.completed = counter('jobqueue_jobs_completed_total', 'Jobs that completed, run in this process.', [
      'queue',
      'name',
    ]);
    this.failed = settledCounter(
      'jobqueue_jobs_failed_total',
      'Jobs that failed for good (no attempt left), run or reclaimed by this process.',
    );
    this.cancelled = settledCounter(
      'jobqueue_jobs_cancelled_total',
      'Jobs that ended cancelled: run here, cancelled here while waiting/delayed, or reclaimed here.',
    );
    this.retried = counter(
      'jobqueue_jobs_retried_total',
      'Failed attempts run in this process that were scheduled for another attempt.',
      ['queue', 'name'],
    );
    this.stalled = settledCounter(
      'jobqueue_jobs_stalled_total',
      "Jobs whose lease expired (their worker died or froze), reclaimed by this process's watchdog.",
    );
    this.waiting = gauge(
      'jobqueue_jobs_waiting',
      'Jobs waiting to run, queue-wide (every process reports the same value).',
    );
    this.delayed = gauge(
      'jobqueue_jobs_delayed',
      'Jobs delayed (delayMs or retry backoff), queue-wide (every process reports the same value).',
    );
    this.active = gauge('jobqueue_jobs_active', 'Handlers running in this process.');
    this.waitSeconds = histogram(
      'jobqueue_job_wait_seconds',
      "Time from add() to the start of the job's first attempt (includes delayMs).",
      ['queue', 'name'],
      JOB_SECONDS_BUCKETS,
    );
    this.runSeconds = histogram(
      'jobqueue_job_run_seconds',
      'Time from the start of an attempt in this process to its recorded outcome.',
      ['queue', 'name', 'outcome'],
      JOB_SECONDS_BUCKETS,
    );
    this.cancelDeliverySeconds = histogram(
      'jobqueue_cancel_delivery_seconds',
      "Time from cancel() to the abort of the handler's signal in this process.",
      ['queue', 'path'],
      CANCEL_SECONDS_BUCKETS,
    );
    this.dispatcherReconnects = counter(
      'jobqueue_dispatcher_reconnects_total',
      'Times the cancel subscription came back up after a loss.',
      ['queue'],
    );
    this.watchdogReclaims = counter(
      'jobqueue_watchdog_reclaims_total',
      "Expired leases reclaimed by this process's watchdog, by what became of the job.",
      ['queue', 'outcome'],
    );
    this.clientGoneCancels = counter(
      'jobqueue_client_gone_cancels_total',
      "watchClient jobs cancelled by this process's watchdog because their client went silent.",
      ['queue'],
    );
  }

  /** Adds a source; returns its removal. */
  addSource(source: MetricSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }

  private async settled(): Promise<void> {
    await Promise.all([...this.sources].map((source) => source.settled()));
  }

  /**
   * One refresh per scrape: prom-client collects all metrics concurrently, so the three gauges
   * share the refresh in flight (one backend query per source, not three).
   */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        this.waiting.reset();
        this.delayed.reset();
        this.active.reset();
        await Promise.all([...this.sources].map((source) => source.collect(this)));
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}
