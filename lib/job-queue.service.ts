import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, filter, firstValueFrom, throwError, timeout as rxTimeout } from 'rxjs';
import type { NewJob, QueueBackend } from './backends/queue-backend.interface';
import { PausedState, QUEUE_LEVEL, describePaused } from './backends/pause-levels';
import { JobCancelDispatcher, JobCancelDispatcherStats } from './cancel/job-cancel.dispatcher';
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
import {
  normalizeAddOptions,
  serializePayload,
  validateEventId,
  validateJobId,
  validateJobName,
} from './validation/job-input.validator';
import { JobWatchdog, JobWatchdogStats } from './watchdog/job-watchdog.service';
import { JobWorker, JobWorkerStats } from './worker/job-worker.service';

/** JSON snapshot returned by {@link JobQueueService.metrics}. */
export interface JobQueueMetrics {
  backend: 'memory' | 'redis';
  counts: Record<JobState, number>;
  added: number;
  worker: JobWorkerStats;
  dispatcher: JobCancelDispatcherStats;
  watchdog: JobWatchdogStats;
  shuttingDown: boolean;
  /** What `pause()` holds, in every process sharing the queue. */
  paused: PausedState;
}

/** Default and largest page size of `poll()`. */
const DEFAULT_POLL_MAX = 100;
const MAX_POLL_MAX = 1_000;

/**
 * The queue's front door: add jobs, read them, cancel them from any process, stream or poll their
 * events. Works the same on the in-memory and the Redis backend.
 */
@Injectable()
export class JobQueueService implements BeforeApplicationShutdown, OnApplicationShutdown {
  private shuttingDown = false;
  private added = 0;
  private readonly streams: JobEventStream;

  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly worker: JobWorker,
    private readonly dispatcher: JobCancelDispatcher,
    private readonly watchdog: JobWatchdog,
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
    const added = await this.backend.add(specs);
    this.added += added.length;
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
    validateJobId(jobId);
    if (typeof reason !== 'string' || reason.length === 0 || reason.length > 500) {
      throw new InvalidJobError(
        Messages.invalidOption('reason', 'a string of 1-500 characters', reason),
      );
    }
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
    const [counts, paused] = await Promise.all([this.counts(), this.backend.paused()]);
    return {
      backend: this.backend.kind,
      counts,
      added: this.added,
      worker: this.worker.stats(),
      dispatcher: this.dispatcher.stats(),
      watchdog: this.watchdog.stats(),
      shuttingDown: this.shuttingDown,
      paused: describePaused(paused),
    };
  }

  /** True once application shutdown began (used by the health indicator). */
  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }

  async onApplicationShutdown(): Promise<void> {
    this.streams.closeAll();
    await this.backend.close();
  }

  // --- operations: pause ----------------------------------------------------------------------

  /**
   * Pauses job `name`, or every name when none is given, in every process sharing the queue (on
   * Redis the pause is stored and survives restarts): its waiting jobs are not started; running
   * jobs finish; `add()` still accepts. @throws InvalidJobError for a malformed name
   */
  async pause(name?: string): Promise<void> {
    await this.backend.pause(pauseLevel(name));
  }

  /**
   * Clears the pause of `name`, or the queue-wide pause when none is given, and wakes the workers.
   * A name runs again once neither it nor the queue is paused. @throws InvalidJobError
   */
  async resume(name?: string): Promise<void> {
    await this.backend.resume(pauseLevel(name));
  }

  /** Without a name: whether the whole queue is paused; with one: whether that name is held by either pause. */
  async isPaused(name?: string): Promise<boolean> {
    const level = pauseLevel(name);
    const paused = await this.backend.paused();
    return paused.includes(QUEUE_LEVEL) || (level !== QUEUE_LEVEL && paused.includes(level));
  }
}

/** The pause level of `name`: the queue level when none is given. */
function pauseLevel(name: string | undefined): string {
  if (name === undefined) return QUEUE_LEVEL;
  validateJobName(name);
  return name;
}
