import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, filter, firstValueFrom, throwError, timeout as rxTimeout } from 'rxjs';
import type { NewJob, QueueBackend } from './backends/queue-backend.interface';
import { JobCancelDispatcher } from './cancel/job-cancel.dispatcher';
import { InvalidJobError, JobNotFoundError, JobQueueError, QueueDrainedError } from './errors/job-queue.errors';
import { Messages } from './errors/job-queue.messages';
import { JobEventStream } from './events/job-event-stream';
import {
  AddOptions,
  CancelResult,
  JOB_STATES,
  Job,
  JobEvent,
  JobEventPage,
  JobState,
  TERMINAL_EVENT_TYPES,
  TERMINAL_STATES,
} from './interfaces/job.interface';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from './job-queue.constants';
import type { ResolvedJobQueueOptions } from './job-queue.options';
import { JobQueueMetricsCollector } from './metrics/job-queue-metrics.collector';
import { JobQueueProbes } from './metrics/job-queue-probes';
import type { JobQueueMetrics } from './metrics/job-queue-metrics.interface';
import { JobQueueTracing } from './tracing/job-queue-tracing';
import {
  normalizeAddOptions,
  serializePayload,
  validateEventId,
  validateJobId,
  validateJobName,
} from './validation/job-input.validator';

/** Default and largest page size of `poll()`. */
const DEFAULT_POLL_MAX = 100;
const MAX_POLL_MAX = 1_000;

/**
 * The queue's front door: add jobs, read them, cancel them from any process, stream or poll their
 * events. Works the same on the in-memory and the Redis backend. It uses the backend but does not
 * own it: the module that creates the backend closes it.
 */
@Injectable()
export class JobQueueService implements BeforeApplicationShutdown, OnApplicationShutdown {
  private shuttingDown = false;
  private added = 0;
  private readonly streams: JobEventStream;

  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly dispatcher: JobCancelDispatcher,
    private readonly collector: JobQueueMetricsCollector,
    private readonly probes: JobQueueProbes,
    private readonly tracing: JobQueueTracing,
  ) {
    this.streams = new JobEventStream(backend, options);
  }

  /**
   * Adds a job. With `opts.jobId`, adding an id whose job is not finished returns that job unchanged.
   * A job whose name has no handler in this process is kept until a process with one claims it.
   * @throws InvalidJobError bad name, options, or data that does not survive JSON / exceeds `maxPayloadBytes`
   * @throws QueueFullError beyond `maxWaiting`; @throws QueueDrainedError once shutdown began
   */
  async add<T>(name: string, data: T, opts?: AddOptions): Promise<Job<T>> {
    const [job] = await this.addBulk([{ name, data, opts }]);
    return job as Job<T>;
  }

  /** Adds several jobs in one round trip. Every job is validated first: one bad job adds none. */
  async addBulk(jobs: Array<{ name: string; data: unknown; opts?: AddOptions }>): Promise<Job[]> {
    if (this.shuttingDown) throw new QueueDrainedError(Messages.drained());
    const now = Date.now();
    const specs: NewJob[] = jobs.map(({ name, data, opts }) => {
      validateJobName(name);
      const normalized = normalizeAddOptions(opts);
      const dataJson = serializePayload(data, this.options.maxPayloadBytes);
      return { id: normalized.jobId ?? randomUUID(), name, dataJson, opts: normalized, createdAt: now };
    });
    if (specs.length === 0) return [];
    const endSpans = this.tracing.produce(specs);
    let added: Job[];
    try {
      added = await this.backend.add(specs);
    } catch (err) {
      endSpans?.(err);
      throw err;
    }
    endSpans?.();
    this.added += added.length;
    this.probes.jobsAdded(added);
    return added;
  }

  /** The job, or null when no job has this id. @throws InvalidJobError for a malformed id */
  async get(jobId: string): Promise<Job | null> {
    validateJobId(jobId);
    return this.backend.get(jobId);
  }

  /**
   * Cancels a job from any process. Waiting/delayed → 'cancelled' at once. Active → 'cancelling':
   * the handler's `ctx.signal` aborts wherever it runs, and the job ends `cancelled` when the handler
   * settles or after `cancelGraceMs`. A cancelled job is never retried.
   */
  async cancel(jobId: string, reason = 'cancelled'): Promise<CancelResult> {
    return this.dispatcher.cancel(jobId, reason);
  }

  /**
   * The job's events with id > `after` (all when omitted), then live ones; completes after the
   * terminal event (`completed`, `failed`, `cancelled`). Errors with JobNotFoundError for an unknown id.
   * While subscribed, it counts as client activity for `watchClient`.
   */
  events(jobId: string, opts: { after?: string } = {}): Observable<JobEvent> {
    validateJobId(jobId);
    if (opts.after !== undefined) validateEventId(opts.after);
    return this.streams.open(jobId, opts.after ?? '0');
  }

  /** One page of events after `after`; touches client activity. @throws JobNotFoundError */
  async poll(jobId: string, opts: { after?: string; max?: number } = {}): Promise<JobEventPage> {
    validateJobId(jobId);
    const after = opts.after ?? '0';
    validateEventId(after);
    const max = opts.max ?? DEFAULT_POLL_MAX;
    if (!Number.isSafeInteger(max) || max < 1 || max > MAX_POLL_MAX) {
      throw new InvalidJobError(
        Messages.invalidOption('max', `an integer from 1 to ${MAX_POLL_MAX}`, max),
      );
    }
    const [, events] = await Promise.all([this.backend.touch(jobId), this.backend.readEvents(jobId, after, max)]);
    if (events === null) throw new JobNotFoundError(Messages.notFound(jobId), jobId);
    let done = events.some((event) => TERMINAL_EVENT_TYPES.has(event.type));
    if (!done && events.length < max) {
      const job = await this.backend.get(jobId);
      done = !!job && TERMINAL_STATES.has(job.state) && events.length === 0;
    }
    return { events, next: events.length > 0 ? events[events.length - 1].id : after, done };
  }

  /** Client activity heartbeat for `watchClient` jobs. @throws JobNotFoundError */
  async touch(jobId: string): Promise<void> {
    validateJobId(jobId);
    if ((await this.backend.touch(jobId)) === 'missing') throw new JobNotFoundError(Messages.notFound(jobId), jobId);
  }

  /** Resolves with the job once it finished. @throws JobNotFoundError; rejects on `timeoutMs`. */
  async waitFor(jobId: string, opts: { timeoutMs?: number } = {}): Promise<Job> {
    validateJobId(jobId);
    const job = await this.backend.get(jobId);
    if (!job) throw new JobNotFoundError(Messages.notFound(jobId), jobId);
    if (TERMINAL_STATES.has(job.state)) return job;
    let terminal = this.streams.open(jobId, '0', { touch: false }).pipe(filter((e) => TERMINAL_EVENT_TYPES.has(e.type)));
    if (opts.timeoutMs !== undefined) {
      const ms = opts.timeoutMs;
      terminal = terminal.pipe(
        rxTimeout({ first: ms, with: () => throwError(() => new JobQueueError(Messages.waitForTimeout(jobId, ms))) }),
      );
    }
    await firstValueFrom(terminal);
    const finished = await this.backend.get(jobId);
    if (!finished) throw new JobNotFoundError(Messages.notFound(jobId), jobId);
    return finished;
  }

  /** Number of jobs per state (finished ones while retained). */
  async counts(): Promise<Record<JobState, number>> {
    const counts = await this.backend.counts();
    return Object.fromEntries(JOB_STATES.map((s) => [s, counts[s] ?? 0])) as Record<JobState, number>;
  }

  /** A JSON snapshot: counts, locally active jobs, dispatcher and watchdog counters. */
  async metrics(): Promise<JobQueueMetrics> {
    const counts = await this.counts();
    const { backend, worker, dispatcher, watchdog } = this.collector.local();
    return { backend, counts, added: this.added, worker, dispatcher, watchdog, shuttingDown: this.shuttingDown };
  }

  /** True once application shutdown began (used by the health indicator). */
  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** @internal From here on `add()` rejects with QueueDrainedError and health reports "shutting down". */
  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }

  /** @internal Ends the event streams this service opened. */
  onApplicationShutdown(): void {
    this.streams.closeAll();
  }
}
