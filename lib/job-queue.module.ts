import { DynamicModule, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { createBackend } from './backends/create-backend';
import type { QueueBackend } from './backends/queue-backend.interface';
import { JobCancelDispatcher } from './cancel/job-cancel.dispatcher';
import { JobHandlerExplorer } from './discovery/job-handler.explorer';
import { JobHandlerRegistry } from './discovery/job-handler.registry';
import { JobFollowActivity } from './events/job-follow-activity';
import { JobEventsGuard } from './events/job-events.guard';
import { JobEventsInterceptor } from './events/job-events.interceptor';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from './job-queue.constants';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } from './job-queue.module-definition';
import type { JobQueueModuleAsyncOptions, JobQueueModuleOptions } from './job-queue.options';
import { resolveJobQueueOptions } from './job-queue.options.resolver';
import { JobQueueService } from './job-queue.service';
import { JobQueueMetricsCollector } from './metrics/job-queue-metrics.collector';
import { JobQueueProbes } from './metrics/job-queue-probes';
import { JobQueuePrometheus } from './metrics/prometheus/job-queue-prometheus';
import { JobQueueTracing } from './tracing/job-queue-tracing';
import { JobWatchdog } from './watchdog/job-watchdog.service';
import { JobWorker } from './worker/job-worker.service';
import { JobEventHooks } from './queue-events/job-event-hooks';
import { JobEventHookExplorer } from './queue-events/job-event-hook.explorer';
import { JobScheduler } from './schedules/job-scheduler.service';

/**
 * The job queue: `JobQueueModule.forRoot({...})` or `forRootAsync({ imports, inject, useFactory })`.
 * Without `redis` it runs in memory in this process; with `redis` every process sharing the Redis
 * shares the queue. Call `app.enableShutdownHooks()` so jobs drain on SIGTERM.
 * Health checks: `JobQueueHealthModule` from `nestjs-job-queue/health`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    { provide: JOB_QUEUE_OPTIONS, useFactory: resolveJobQueueOptions, inject: [MODULE_OPTIONS_TOKEN] },
    { provide: JOB_QUEUE_BACKEND, useFactory: createBackend, inject: [JOB_QUEUE_OPTIONS] },
    JobHandlerRegistry,
    JobHandlerExplorer,
    JobWorker,
    JobCancelDispatcher,
    JobWatchdog,
    JobQueueMetricsCollector,
    JobQueueProbes,
    JobQueuePrometheus,
    JobQueueTracing,
    JobQueueService,
    JobEventsInterceptor,
    JobEventsGuard,
    JobEventHooks,
    JobEventHookExplorer,
    JobScheduler,
    JobFollowActivity,
  ],
  exports: [
    JobQueueService,
    JobCancelDispatcher,
    JobWatchdog,
    JobEventsInterceptor,
    JobEventsGuard,
    JobFollowActivity,
    // For JobQueueHealthModule (nestjs-job-queue/health), which builds on this module.
    JobQueueMetricsCollector,
    JOB_QUEUE_OPTIONS,
  ],
})
export class JobQueueModule extends ConfigurableModuleClass implements OnApplicationShutdown {
  /** @internal Nest injects the dependencies; not constructed by hand. */
  constructor(@Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend) {
    super();
  }

  /** `forRoot()` with no options: the in-memory backend with every default. */
  static override forRoot(options: JobQueueModuleOptions & { isGlobal?: boolean } = {}): DynamicModule {
    return super.forRoot(options);
  }

  /** Options from a factory, a class or an existing provider; see {@link JobQueueModuleAsyncOptions}. */
  static override forRootAsync(options: JobQueueModuleAsyncOptions): DynamicModule {
    return super.forRootAsync(options);
  }

  /**
   * @internal The module created the backend (its factory provider), so it closes it. Nest runs a
   * module's own hook after its providers' hooks: the worker has drained and handed back its jobs
   * (beforeApplicationShutdown), the dispatcher and the event streams have let go of the backend.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.backend.close();
  }
}
