import type { PausedState } from '../backends/pause-levels';
import type { JobCancelDispatcherStats } from '../cancel/job-cancel.dispatcher';
import type { JobState } from '../interfaces/job.interface';
import type { JobWatchdogStats } from '../watchdog/job-watchdog.service';
import type { JobWorkerStats } from '../worker/job-worker.service';

/** JSON snapshot returned by `JobQueueService.metrics()`. */
export interface JobQueueMetrics {
  backend: 'memory' | 'redis';
  counts: Record<JobState, number>;
  /** Jobs added through this process. */
  added: number;
  worker: JobWorkerStats;
  dispatcher: JobCancelDispatcherStats;
  watchdog: JobWatchdogStats;
  shuttingDown: boolean;
  /** What `pause()` holds, in every process sharing the queue. */
  paused: PausedState;
}

/** What the process's components report without I/O: the part of {@link JobQueueMetrics} health reads. */
export type JobQueueLocalStats = Pick<JobQueueMetrics, 'backend' | 'worker' | 'dispatcher' | 'watchdog'>;
