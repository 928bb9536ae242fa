import { DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { createBackend } from './backends/create-backend';
import { JobCancelDispatcher } from './cancel/job-cancel.dispatcher';
import { JobHandlerExplorer } from './discovery/job-handler.explorer';
import { JobHandlerRegistry } from './discovery/job-handler.registry';
import { JobEventsGuard } from './events/job-events.guard';
import { JobEventsInterceptor } from './events/job-events.interceptor';
import { JobQueueHealthIndicator } from './health/job-queue.health';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from './job-queue.constants';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE } from './job-queue.module-definition';
import { createJobQueueOptions } from './job-queue.options.factory';
import { JobQueueService } from './job-queue.service';
import { JobWatchdog } from './watchdog/job-watchdog.service';
import { JobWorker } from './worker/job-worker.service';
import { JobEventHooks } from './queue-events/job-event-hooks';
import { JobEventHookExplorer } from './queue-events/job-event-hook.explorer';
import { JobScheduler } from './schedules/job-scheduler.service';

/**
 * The job queue: `JobQueueModule.forRoot({...})` or `forRootAsync({ imports, inject, useFactory })`.
 * Without `redis` it runs in memory in this process; with `redis` every process sharing the Redis
 * shares the queue. Call `app.enableShutdownHooks()` so jobs drain on SIGTERM.
 */
@Module({
  imports: [DiscoveryModule, TerminusModule],
  providers: [
    { provide: JOB_QUEUE_OPTIONS, useFactory: createJobQueueOptions, inject: [MODULE_OPTIONS_TOKEN] },
    { provide: JOB_QUEUE_BACKEND, useFactory: createBackend, inject: [JOB_QUEUE_OPTIONS] },
    JobHandlerRegistry,
    JobHandlerExplorer,
    JobWorker,
    JobCancelDispatcher,
    JobWatchdog,
    JobQueueService,
    JobQueueHealthIndicator,
    JobEventsInterceptor,
    JobEventsGuard,
    JobEventHooks,
    JobEventHookExplorer,
    JobScheduler,
  ],
  exports: [JobQueueService, JobCancelDispatcher, JobWatchdog, JobQueueHealthIndicator, JobEventsInterceptor, JobEventsGuard],
})
export class JobQueueModule extends ConfigurableModuleClass {
  /** `forRoot()` with no options: the in-memory backend with every default. */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
