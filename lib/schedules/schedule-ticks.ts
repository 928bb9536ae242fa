import { CronExpressionParser } from 'cron-parser';
import type { ScheduleOptions } from './job-schedule.interface';

/**
 * Tick arithmetic of schedules (options already validated): pure functions, no clock of their own.
 * Cron expressions are evaluated by `cron-parser` in the schedule's IANA time zone, so DST
 * transitions follow the zone's rules: a local time skipped by spring-forward fires once at the
 * shifted time, a local time repeated by fall-back fires once (its first occurrence).
 */

/** The first tick at or after `now` (undefined: none before `endAt`). `anchor`: where `everyMs` counts from. */
export function firstTick(opts: ScheduleOptions, anchor: number, now: number): number | undefined {
  return tickAfter(opts, anchor, now - 1);
}

/** The first tick strictly after `after`, not before `startAt`, not after `endAt` (else undefined). */
export function tickAfter(opts: ScheduleOptions, anchor: number, after: number): number | undefined {
  const from = opts.startAt !== undefined ? Math.max(after, opts.startAt - 1) : after;
  let tick: number;
  if (opts.everyMs !== undefined) {
    tick = from < anchor ? anchor : anchor + (Math.floor((from - anchor) / opts.everyMs) + 1) * opts.everyMs;
  } else {
    tick = CronExpressionParser.parse(opts.cron!, { currentDate: new Date(from), tz: opts.tz ?? 'UTC' })
      .next()
      .getTime();
  }
  return opts.endAt !== undefined && tick > opts.endAt ? undefined : tick;
}
