import type { JobEvent } from '../interfaces/job.interface';

/** An event of any job as `queueEvents()` delivers it: the job's event plus the job's name. */
export type QueueJobEvent = JobEvent & { name: string };

/** Filter of `queueEvents()`: only these event types / job names (each: all when omitted). */
export interface QueueEventsFilter {
  types?: string[];
  names?: string[];
}
