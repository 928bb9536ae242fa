import type { Job, JobState } from './job.interface';

/** A state after which a job never runs again (unless retried). */
export type FinishedJobState = 'completed' | 'failed' | 'cancelled';

/** What {@link JobQueueService.list} pages through. */
export interface JobListQuery {
  state: JobState;
  /** Only jobs of this name. */
  name?: string;
  /** Page size, 1..1000; default 100. */
  limit?: number;
  /** The `cursor` of the previous page (same state and name). */
  cursor?: string;
}

/** One page of {@link JobQueueService.list}. */
export interface JobListPage {
  jobs: Job[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  cursor?: string;
}

/** What {@link JobQueueService.clean} removes. */
export interface JobCleanQuery {
  state: FinishedJobState;
  /** Only jobs finished at least this long ago (ms); default 0: every finished job of the state. */
  olderThanMs?: number;
  /** Only jobs of this name. */
  name?: string;
  /** Remove at most this many; default: no cap. */
  limit?: number;
}

/** Outcome of {@link JobQueueService.retry}. */
export type RetryResult = 'retried' | 'not_found' | 'not_finished';

/** Outcome of {@link JobQueueService.remove}. */
export type RemoveResult = 'removed' | 'not_found' | 'active';
