// The package's public surface, every export by name. Runtime internals (state sets, tokens,
// backends) stay out. Health checks are a separate entry point: `nestjs-job-queue/health`.

// Module and options
export { JobQueueModule } from './job-queue.module';
export type {
  JobQueueModuleOptions,
  JobQueueModuleAsyncOptions,
  JobQueueOptionsFactory,
  JobQueueRedisOptions,
  JobQueueRedisConnectionOptions,
  JobQueueRedisClient,
  JobQueueShardsOptions,
  JobQueueMetricsOptions,
  JobQueueMetricsRegistry,
} from './job-queue.options';

// Providers
export { JobQueueService } from './job-queue.service';
export type { JobQueueMetrics } from './metrics/job-queue-metrics.interface';
export type { PausedState } from './backends/pause-levels';
export { JobCancelDispatcher, type JobCancelDispatcherStats } from './cancel/job-cancel.dispatcher';
export {
  JobWatchdog,
  CLIENT_GONE_REASON,
  type JobWatchdogStats,
  type JobWatchdogSweep,
} from './watchdog/job-watchdog.service';
export type { JobWorkerStats } from './worker/job-worker.service';
export type { AttemptOutcome } from './worker/running-job';

// Decorators
export { JobHandler, type JobHandlerOptions } from './decorators/job-handler.decorator';
export { JobEvents } from './decorators/job-events.decorator';
export { CLIENT_DISCONNECTED_REASON } from './events/job-events.constants';
export type { JobEventsOptions } from './events/job-events.options';

// Jobs and events
export type {
  AddOptions,
  BackoffOptions,
  CancelResult,
  Job,
  JobContext,
  JobEvent,
  JobEventPage,
  JobState,
  LifecycleEventType,
} from './interfaces/job.interface';
export { compareEventIds } from './events/event-id';

// Errors
export {
  JobQueueError,
  InvalidJobError,
  JobNotFoundError,
  QueueFullError,
  QueueDrainedError,
  JobQueueConfigError,
  JobAbortedError,
  UnrecoverableJobError,
  type JobAbortKind,
} from './errors/job-queue.errors';

// Queue-wide events, hooks and schedules
export { OnJobEvent, type OnJobEventOptions } from './queue-events/on-job-event.decorator';
export type { QueueJobEvent, QueueEventsFilter } from './queue-events/queue-job-event';
export type { JobSchedule, ScheduleOptions } from './schedules/job-schedule.interface';

// Operating the queue
export type {
  FinishedJobState,
  JobCleanQuery,
  JobListPage,
  JobListQuery,
  RemoveResult,
  RetryResult,
} from './interfaces/job-operations.interface';
