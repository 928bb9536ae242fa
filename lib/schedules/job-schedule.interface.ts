import type { AddOptions } from '../interfaces/job.interface';

/** How a schedule ticks: exactly one of `cron` and `everyMs`. See {@link JobQueueService.schedule}. */
export interface ScheduleOptions {
  /** A 5-field (minute precision) or 6-field (seconds first) cron expression, parsed by `cron-parser`. */
  cron?: string;
  /** IANA time zone of `cron` (e.g. 'Europe/Berlin'); default 'UTC'. */
  tz?: string;
  /** A fixed interval in ms: ticks at `startAt` (or at once) and every `everyMs` after. */
  everyMs?: number;
  /** Epoch ms: no tick before it. */
  startAt?: number;
  /** Epoch ms: no tick after it. */
  endAt?: number;
  /** At most this many jobs in total. */
  limit?: number;
  /** Options of every job the schedule adds (its id is derived from the schedule and the tick). */
  job?: Omit<AddOptions, 'jobId' | 'delayMs'>;
}

/** A stored schedule as `schedules()` lists it. */
export interface JobSchedule {
  id: string;
  name: string;
  data: unknown;
  opts: ScheduleOptions;
  /** Time of the next tick; absent once `limit` or `endAt` is reached. */
  nextAt?: number;
  /** Jobs added so far (since the schedule was last (re)placed). */
  count: number;
}
