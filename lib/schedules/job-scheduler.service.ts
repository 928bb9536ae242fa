import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { QueueBackend, StoredSchedule } from '../backends/queue-backend.interface';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../job-queue.options';
import { JobEventHooks } from '../queue-events/job-event-hooks';
import { EpisodeLogger } from '../utils/episode-logger';
import { timerDelay } from '../utils/timer-delay';
import { within } from '../utils/within';
import { normalizeAddOptions } from '../validation/job-input.validator';
import { scheduleJobId } from './schedule-job-id';
import { tickAfter } from './schedule-ticks';

/**
 * How long a process sleeps at most between looks at the schedules: a schedule stored by another
 * process is seen within this time (the storing process itself re-arms at once).
 */
export const SCHEDULE_POLL_MS = 5_000;
/** Most due schedules fired per look; more are fired on the next look, right after. */
const DUE_BATCH = 100;
/** Pause after a failed look, so an unreachable store is not hammered. */
const ERROR_PAUSE_MS = 1_000;

/**
 * Fires due schedules. Every process runs one timer for the earliest `nextAt` (bounded by
 * {@link SCHEDULE_POLL_MS}), whether it runs workers or not: firing only adds jobs, which any
 * producer may do, and a fleet whose only long-lived process is an API still ticks.
 *
 * Exactly one job per tick however many processes fire: the job's id is `sched:<id>:<tick ms>` (scheduleJobId)
 * and the backend advances `nextAt` with a compare-and-set in the same atomic step, so the
 * other processes' attempts are refused. Ticks missed while every process was down are
 * collapsed: the overdue tick fires once, and the next one is the first after now.
 */
@Injectable()
export class JobScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('JobScheduler');
  private readonly errors = new EpisodeLogger(this.logger, 'Firing schedules');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly hooks: JobEventHooks,
  ) {}

  onApplicationBootstrap(): void {
    this.wake();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // Bounded: with the store unreachable, a look in progress may not return until it is closed.
    await within(this.running ?? Promise.resolve(), this.options.drainTimeoutMs);
  }

  /** Looks at the schedules now (a schedule was stored here, or the timer fired). */
  wake(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A look in progress re-arms when it ends; the chained one sees the newest state.
    this.running = (this.running ?? Promise.resolve()).then(() => this.look());
  }

  private async look(): Promise<void> {
    if (this.stopped) return;
    let nextAt: number | undefined;
    let delay = SCHEDULE_POLL_MS;
    try {
      let batch: { due: StoredSchedule[]; nextAt?: number };
      do {
        batch = await this.backend.dueSchedules(Date.now(), DUE_BATCH);
        for (const schedule of batch.due) await this.fire(schedule);
      } while (batch.due.length === DUE_BATCH && !this.stopped);
      nextAt = batch.due.length > 0 ? (await this.backend.dueSchedules(Date.now(), 0)).nextAt : batch.nextAt;
      this.errors.recovered();
      if (nextAt !== undefined) delay = Math.min(delay, nextAt - Date.now());
    } catch (err) {
      this.errors.failed(err);
      delay = ERROR_PAUSE_MS;
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => this.wake(), timerDelay(delay));
    this.timer.unref();
  }

  /** Fires the schedule's due tick: one job for it and every tick missed since. */
  private async fire(schedule: StoredSchedule): Promise<void> {
    const tick = schedule.nextAt!;
    const now = Date.now();
    const count = schedule.count + 1;
    const exhausted = schedule.opts.limit !== undefined && count >= schedule.opts.limit;
    const nextAt = exhausted ? undefined : tickAfter(schedule.opts, schedule.anchor, Math.max(tick, now));
    const jobId = scheduleJobId(schedule.id, tick);
    const opts = normalizeAddOptions({ ...schedule.opts.job, jobId });
    const result = await this.backend.fireSchedule(schedule, nextAt, {
      id: jobId,
      name: schedule.name,
      dataJson: schedule.dataJson,
      opts,
      createdAt: now,
    });
    if (result === 'added') this.hooks.notify(jobId, 'queued', schedule.name);
  }
}
