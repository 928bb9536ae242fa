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
  JobQueueMetricsOptions,
  JobQueueMetricsRegistry,
} from './job-queue.options';

// Providers
export { JobQueueService } from './job-queue.service';
export type { JobQueueMetrics } from './metrics/job-queue-metrics.interface';
export { JobCancelDispatcher, type JobCancelDispatcherStats } from './cancel/job-cancel.dispatcher';
export { JobWatchdog, CLIENT_GONE_REASON, type JobWatchdogStats, type JobWatchdogSweep } from './watchdog/job-watchdog.service';
export type { JobWorkerStats } from './worker/job-worker.service';
export type { AttemptOutcome } from './worker/running-job';

// Decorators
export { JobHandler, type JobHandlerOptions } from './decorators/job-handler.decorator';
export { JobEvents, CLIENT_DISCONNECTED_REASON, type JobEventsOptions } from './events/job-events.decorator';

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
  type JobAbortKind,
} from './errors/job-queue.errors';
