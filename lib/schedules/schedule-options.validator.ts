import { CronExpressionParser } from 'cron-parser';
import { InvalidJobError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { ScheduleOptions } from './job-schedule.interface';
import { describeError } from '../utils/episode-logger';
import { requireInt } from '../validation/job-input.validator';

const SCHEDULE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,150}$/;
const SCHEDULE_KEYS = ['cron', 'tz', 'everyMs', 'startAt', 'endAt', 'limit', 'job'] as const;
/** Options of a schedule's jobs that the schedule itself decides. */
const FORBIDDEN_JOB_KEYS = ['jobId', 'delayMs'] as const;
/** Largest `everyMs`: about 10 years (keeps tick arithmetic well inside safe integers). */
const MAX_EVERY_MS = 315_360_000_000;

/** 1-150 characters of the job-id alphabet (the tick's job id `sched:<id>:<ms>` must stay a valid id). */
export function validateScheduleId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !SCHEDULE_ID_PATTERN.test(id))
    throw new InvalidJobError(Messages.invalidScheduleId(id));
}

/**
 * Validates schedule options (`job` only for the keys a schedule decides; the caller normalizes
 * the rest as add options).
 * @throws InvalidJobError
 */
export function validateScheduleOptions(opts: ScheduleOptions): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new InvalidJobError(Messages.invalidOption('opts', 'an object', opts));
  }
  for (const key of Object.keys(opts)) {
    if (!(SCHEDULE_KEYS as readonly string[]).includes(key))
      throw new InvalidJobError(Messages.unknownOption(key, SCHEDULE_KEYS));
  }
  if ((opts.cron === undefined) === (opts.everyMs === undefined)) {
    throw new InvalidJobError(Messages.scheduleNeedsOneKind({ cron: opts.cron, everyMs: opts.everyMs }));
  }
  if (opts.tz !== undefined) {
    if (opts.cron === undefined)
      throw new InvalidJobError(Messages.invalidOption('tz', "used with 'cron' only", opts.tz));
    validateTimeZone(opts.tz);
  }
  if (opts.cron !== undefined) validateCron(opts.cron, opts.tz);
  if (opts.everyMs !== undefined) requireInt('everyMs', opts.everyMs, 1, MAX_EVERY_MS);
  if (opts.startAt !== undefined) requireInt('startAt', opts.startAt, 0, Number.MAX_SAFE_INTEGER);
  if (opts.endAt !== undefined) requireInt('endAt', opts.endAt, opts.startAt ?? 0, Number.MAX_SAFE_INTEGER);
  if (opts.limit !== undefined) requireInt('limit', opts.limit, 1, Number.MAX_SAFE_INTEGER);
  for (const key of FORBIDDEN_JOB_KEYS) {
    if (opts.job && typeof opts.job === 'object' && key in opts.job) {
      throw new InvalidJobError(
        Messages.invalidOption(
          `job.${key}`,
          'absent (the schedule derives it from the tick)',
          (opts.job as Record<string, unknown>)[key],
        ),
      );
    }
  }
}

function validateCron(cron: unknown, tz: string | undefined): void {
  if (typeof cron !== 'string') throw new InvalidJobError(Messages.invalidOption('cron', 'a string', cron));
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) throw new InvalidJobError(Messages.invalidCron(cron, `${fields} field(s)`));
  try {
    CronExpressionParser.parse(cron, { tz: tz ?? 'UTC' }).next();
  } catch (err) {
    throw new InvalidJobError(Messages.invalidCron(cron, describeError(err)));
  }
}

function validateTimeZone(tz: unknown): void {
  try {
    if (typeof tz !== 'string' || tz === '') throw new RangeError('not a string');
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new InvalidJobError(Messages.invalidTimeZone(tz));
  }
}
