import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { NEVER, Observable, filter, lastValueFrom, takeUntil, timer } from 'rxjs';
import type { NewJob, QueueBackend } from './backends/queue-backend.interface';
import { QUEUE_LEVEL, describePaused } from './backends/pause-levels';
import { JobCancelDispatcher } from './cancel/job-cancel.dispatcher';
import { InvalidJobError, JobNotFoundError, JobQueueError, QueueDrainedError } from './errors/job-queue.errors';
import { Messages } from './errors/job-queue.messages';
import { JobEventStream } from './events/job-event-stream';
import type {
  JobCleanQuery,
  JobListPage,
  JobListQuery,
  RemoveResult,
  RetryResult,
} from './interfaces/job-operations.interface';
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
  validateBulk,
  validateEventId,
  validateJobId,
  validateJobName,
} from './validation/job-input.validator';
import { JobEventHooks } from './queue-events/job-event-hooks';
import type { QueueEventsFilter, QueueJobEvent } from './queue-events/queue-job-event';
import { validateQueueEventsFilter } from './queue-events/queue-events.validator';
import type { JobSchedule, ScheduleOptions } from './schedules/job-schedule.interface';
import { JobScheduler } from './schedules/job-scheduler.service';
import { validateScheduleId, validateScheduleOptions } from './schedules/schedule-options.validator';
import { firstTick } from './schedules/schedule-ticks';
import type { StoredSchedule } from './backends/queue-backend.interface';
import { encodeListCursor } from './validation/list-cursor';
import { retryDelay, toCleanQuery, toListQuery } from './validation/operations.validator';

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
  /** The streams handed to callers of `events()`: ended as shutdown begins. */
  private readonly streams: JobEventStream;
  /** The streams behind `waitFor()`: they may still see jobs end during the drain. */
  private readonly waits: JobEventStream;

  /** @internal Nest injects the dependencies; not constructed by hand. */
  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly dispatcher: JobCancelDispatcher,
    private readonly collector: JobQueueMetricsCollector,
    private readonly hooks: JobEventHooks,
    private readonly scheduler: JobScheduler,
    private readonly probes: JobQueueProbes,
    private readonly tracing: JobQueueTracing,
  ) {
    this.streams = new JobEventStream(backend, options);
    this.waits = new JobEventStream(backend, options);
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
    validateBulk(jobs);
    const now = Date.now();
    const specs: NewJob[] = jobs.map(({ name, data, opts }) => {
      validateJobName(name);
      const normalized = normalizeAddOptions(opts);
      const dataJson = serializePayload(data, this.options.maxPayloadBytes);
      const generatedId = normalized.jobId === undefined;
      const id = normalized.jobId ?? this.backend.newJobId?.(name) ?? randomUUID();
      return { id, name, dataJson, opts: normalized, createdAt: now, generatedId };
    });
    if (specs.length === 0) return [];
    const endSpans = this.tracing.produce(specs);
    let added: Job[];
    try {
      added = await this.backend.add(
        specs,
        this.hooks.has('queued') ? (job) => this.hooks.notify(job.id, 'queued', job.name) : undefined,
      );
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
   * The job's events with id `> after` (all when omitted), then live ones; completes after the
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
      throw new InvalidJobError(Messages.invalidOption('max', `an integer from 1 to ${MAX_POLL_MAX}`, max));
    }
    // One event more than the page tells whether anything follows it.
    const [, read] = await Promise.all([this.backend.touch(jobId), this.backend.readEvents(jobId, after, max + 1)]);
    if (read === null) throw new JobNotFoundError(Messages.notFound(jobId), jobId);
    const events = read.slice(0, max);
    // Done when the page ends with the job's last event and that is a terminal one (a retried
    // job's old terminal event is followed by its new run), or nothing is left of a finished job.
    let done = false;
    if (read.length <= max) {
      const last = events.at(-1);
      if (last) done = TERMINAL_EVENT_TYPES.has(last.type);
      else {
        const job = await this.backend.get(jobId);
        done = !!job && TERMINAL_STATES.has(job.state);
      }
    }
    return { events, next: events.length > 0 ? events[events.length - 1].id : after, done };
  }

  /** Client activity heartbeat for `watchClient` jobs. @throws JobNotFoundError */
  async touch(jobId: string): Promise<void> {
    validateJobId(jobId);
    if ((await this.backend.touch(jobId)) === 'missing') throw new JobNotFoundError(Messages.notFound(jobId), jobId);
  }

  /**
   * Resolves with the job once it finished (for a retried job: its new end). @throws JobNotFoundError
   * (also when the job is removed meanwhile); rejects on `timeoutMs`.
   */
  async waitFor(jobId: string, opts: { timeoutMs?: number } = {}): Promise<Job> {
    validateJobId(jobId);
    const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
    // The stream completes with the job's last terminal event; a retry landing right then sends
    // us round again, after that event.
    let after = '0';
    for (;;) {
      const job = await this.backend.get(jobId);
      if (!job) throw new JobNotFoundError(Messages.notFound(jobId), jobId);
      if (TERMINAL_STATES.has(job.state)) return job;
      if (deadline !== undefined && Date.now() >= deadline)
        throw new JobQueueError(Messages.waitForTimeout(jobId, opts.timeoutMs!));
      const stream = this.waits.open(jobId, after, { touch: false }).pipe(
        filter((e) => TERMINAL_EVENT_TYPES.has(e.type)),
        takeUntil(deadline === undefined ? NEVER : timer(new Date(deadline))),
      );
      const end = await lastValueFrom(stream, { defaultValue: undefined });
      if (end) after = end.id;
      else if (this.shuttingDown) throw new QueueDrainedError(Messages.waitInterrupted(jobId)); // streams end at shutdown
    }
  }

  /** Number of jobs per state (finished ones while retained). */
  async counts(): Promise<Record<JobState, number>> {
    const counts = await this.backend.counts();
    return Object.fromEntries(JOB_STATES.map((s) => [s, counts[s] ?? 0])) as Record<JobState, number>;
  }

  /** A JSON snapshot: counts, locally active jobs, dispatcher and watchdog counters. */
  async metrics(): Promise<JobQueueMetrics> {
    const [counts, paused] = await Promise.all([this.counts(), this.collector.paused()]);
    const { backend, worker, dispatcher, watchdog } = this.collector.local();
    return {
      backend,
      counts,
      added: this.added,
      worker,
      dispatcher,
      watchdog,
      shuttingDown: this.shuttingDown,
      paused: describePaused(paused),
    };
  }

  /** True once application shutdown began (used by the health indicator). */
  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * @internal From here on `add()` rejects with QueueDrainedError and health reports "shutting
   * down". Ends the `events()` streams now: an open SSE response would keep the HTTP server, and so
   * the process, from closing (a client resumes on another process with its last event id).
   */
  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
    this.streams.closeAll();
  }

  /** @internal Ends the `waitFor()` streams (they reject with QueueDrainedError); lets running hooks finish. */
  async onApplicationShutdown(): Promise<void> {
    this.waits.closeAll();
    await this.hooks.settled(this.options.drainTimeoutMs);
  }

  // --- operations: queue events, schedules ---

  /**
   * Every event of every job (lifecycle and custom) with the job's name, live from every process
   * sharing the queue: for dashboards and logs. No history (events before subscribing and while
   * the connection is down are not replayed). Costs nothing while nobody subscribes.
   * @throws InvalidJobError for a malformed filter
   */
  queueEvents(filter: QueueEventsFilter = {}): Observable<QueueJobEvent> {
    validateQueueEventsFilter(filter);
    const types = filter.types && new Set(filter.types);
    const names = filter.names && new Set(filter.names);
    return new Observable<QueueJobEvent>((subscriber) =>
      this.backend.onQueueEvent((event) => {
        if ((!types || types.has(event.type)) && (!names || names.has(event.name))) subscriber.next(event);
      }),
    );
  }

  /**
   * Stores a schedule that adds job `name` with `data` on every tick (`cron` in `tz`, or every
   * `everyMs`), replacing one with the same id atomically (its count starts again at 0). Exactly
   * one job per tick across all processes; its id is `sched:<scheduleId>:<tick ms>`.
   * @throws InvalidJobError bad id, name, data or options (both or neither of cron/everyMs, a bad cron or tz); nothing is stored
   */
  async schedule(scheduleId: string, name: string, data: unknown, opts: ScheduleOptions): Promise<JobSchedule> {
    validateScheduleId(scheduleId);
    validateJobName(name);
    validateScheduleOptions(opts);
    normalizeAddOptions(opts.job);
    const now = Date.now();
    const stored: StoredSchedule = {
      id: scheduleId,
      name,
      dataJson: serializePayload(data, this.options.maxPayloadBytes),
      opts: JSON.parse(JSON.stringify(opts)) as ScheduleOptions,
      anchor: opts.startAt ?? now,
      rev: randomUUID(),
      count: 0,
    };
    // Registering the same schedule again (e.g. at every boot) keeps it as it is: its count, its next
    // tick and a tick missed while every process was down. Only a different schedule replaces it.
    const existing = (await this.backend.listSchedules()).find((schedule) => schedule.id === scheduleId);
    if (existing && sameSchedule(existing, stored)) return toJobSchedule(existing);
    const nextAt = firstTick(stored.opts, stored.anchor, now);
    if (nextAt !== undefined) stored.nextAt = nextAt;
    await this.backend.saveSchedule(stored);
    this.scheduler.wake();
    return toJobSchedule(stored);
  }

  /** Deletes a schedule (jobs it added stay); false when there was none. */
  async unschedule(scheduleId: string): Promise<boolean> {
    validateScheduleId(scheduleId);
    return this.backend.removeSchedule(scheduleId);
  }

  /** Every schedule of the queue, by id. Exhausted ones (past `limit` or `endAt`) have no `nextAt`. */
  async schedules(): Promise<JobSchedule[]> {
    const stored = await this.backend.listSchedules();
    return stored.map(toJobSchedule).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // --- operations: list, retry, remove, clean ---

  /**
   * One page of the jobs in a state: `waiting` in run order (priority desc, then FIFO), `delayed`
   * soonest due first, `active` oldest start first, finished states newest first. Pass the page's
   * `cursor` to get the next one; it is absent on the last page. Paging never repeats a job and
   * never skips one that stays in the state. With `name` on `active` or a finished state a page may
   * hold fewer than `limit` jobs (even none) and still have a `cursor`: keep paging until it is absent.
   * @throws InvalidJobError bad state or name, `limit` outside 1..1000, a cursor from another list
   */
  async list(query: JobListQuery): Promise<JobListPage> {
    const q = toListQuery(query);
    const page = await this.backend.list(q);
    return page.next ? { jobs: page.jobs, cursor: encodeListCursor(q.state, q.name, page.next) } : { jobs: page.jobs };
  }

  /**
   * Runs a finished (completed, failed or cancelled) job again under the same id: back to
   * `waiting` behind the jobs already waiting at its priority, or `delayed` with `delayMs`; fresh
   * attempts (`ctx.attempt` starts at 1), result, error and cancel reason cleared, retention lifted.
   * Its stream goes on with a `queued` event `{ retried: true }`. Waiting, delayed and active jobs
   * answer 'not_finished'. @throws InvalidJobError malformed id or delay
   */
  async retry(jobId: string, opts?: { delayMs?: number }): Promise<RetryResult> {
    validateJobId(jobId);
    const result = await this.backend.retry(jobId, retryDelay(opts));
    // The retry's `queued` event happened here: its hooks run here (once, like every transition's).
    if (result === 'retried') this.hooks.notify(jobId, 'queued');
    return result;
  }

  /**
   * Deletes a waiting, delayed or finished job with its events; open `events()` streams of it end
   * with JobNotFoundError. An active job answers 'active' (cancel it first). @throws InvalidJobError
   */
  async remove(jobId: string): Promise<RemoveResult> {
    validateJobId(jobId);
    return this.backend.remove(jobId);
  }

  /**
   * Removes finished jobs of one state, oldest first, finished at least `olderThanMs` ago (default
   * 0: all), of `name` when given, at most `limit`. Works in bounded batches (Redis serves other
   * clients in between). Resolves with how many were removed. @throws InvalidJobError
   */
  async clean(query: JobCleanQuery): Promise<number> {
    return this.backend.clean(toCleanQuery(query, Date.now()));
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

function toJobSchedule({ id, name, dataJson, opts, nextAt, count }: StoredSchedule): JobSchedule {
  return { id, name, data: JSON.parse(dataJson), opts, ...(nextAt !== undefined && { nextAt }), count };
}

/** Same name, data and options (the state — rev, count, nextAt, anchor — is not compared). */
function sameSchedule(a: StoredSchedule, b: StoredSchedule): boolean {
  return a.name === b.name && a.dataJson === b.dataJson && JSON.stringify(a.opts) === JSON.stringify(b.opts);
}
