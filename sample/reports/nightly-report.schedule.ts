import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { JobQueueService, JobSchedule, ScheduleOptions } from '../../lib';

/** The schedule this sample keeps: one `report` job at 03:00 UTC every night, whatever the number of processes. */
export const NIGHTLY_REPORT = {
  id: 'nightly-report',
  name: 'report',
  data: {},
  opts: { cron: '0 3 * * *', tz: 'UTC' } satisfies ScheduleOptions,
};

/**
 * Registers the nightly report at boot. The schedule lives in the queue (on Redis, shared by every
 * process and kept across restarts), so it is stored only when missing or different: storing it
 * again would replace it, and a tick missed while every process was down would no longer run on return.
 */
@Injectable()
export class NightlyReportSchedule implements OnApplicationBootstrap {
  constructor(private readonly jobs: JobQueueService) {}

  async onApplicationBootstrap(): Promise<void> {
    const { id, name, data, opts } = NIGHTLY_REPORT;
    const existing = (await this.jobs.schedules()).find((s) => s.id === id);
    if (!existing || !isSameSchedule(existing)) await this.jobs.schedule(id, name, data, opts);
  }
}

function isSameSchedule({ name, data, opts }: JobSchedule): boolean {
  return (
    JSON.stringify({ name, data, opts }) ===
    JSON.stringify({ name: NIGHTLY_REPORT.name, data: NIGHTLY_REPORT.data, opts: NIGHTLY_REPORT.opts })
  );
}
