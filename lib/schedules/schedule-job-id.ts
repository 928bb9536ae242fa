/**
 * The id of the job a schedule adds for one tick: the same in every process, so of many processes
 * firing the tick the first adds the job and the others find it (see JobScheduler).
 */
export function scheduleJobId(scheduleId: string, tick: number): string {
  return `sched:${scheduleId}:${tick}`;
}

/** The schedule a tick's job id was derived from (see {@link scheduleJobId}); undefined for any other id. */
export function scheduleIdOfJob(jobId: string): string | undefined {
  return /^sched:(.+):\d+$/.exec(jobId)?.[1];
}
