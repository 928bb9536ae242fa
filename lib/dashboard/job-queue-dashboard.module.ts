import { Controller, DynamicModule, Module, UseGuards } from '@nestjs/common';
import { DASHBOARD_PAGE, DASHBOARD_PATH, readDashboardPage } from './dashboard-page';
import { JobQueueDashboardOptions, resolveDashboardOptions } from './job-queue-dashboard.options';
import { JobQueueDashboardRoutes } from './job-queue-dashboard.routes';

/**
 * A web page to watch and operate the queue: jobs per state, job lists with paging, a job's live
 * event log, and buttons to cancel, retry, remove and pause/resume. Needs `JobQueueModule` (global,
 * the default) and the guards that protect it:
 *
 * ```ts
 * JobQueueDashboardModule.forRoot({ path: 'admin/jobs', guards: [AdminGuard] })
 * ```
 */
@Module({})
export class JobQueueDashboardModule {
  /**
   * Mounts the dashboard at `path` behind `guards`. Each call derives its own controller class, so
   * the path and guards are this call's alone (two dashboards, two paths, no shared metadata).
   * @throws JobQueueConfigError without `guards` (pass `[]` to run it open) or with a malformed option
   */
  static forRoot(options: JobQueueDashboardOptions): DynamicModule {
    const { path, guards } = resolveDashboardOptions(options);
    class JobQueueDashboardController extends JobQueueDashboardRoutes {}
    Controller(path)(JobQueueDashboardController);
    if (guards.length > 0) UseGuards(...guards)(JobQueueDashboardController);
    return {
      module: JobQueueDashboardModule,
      controllers: [JobQueueDashboardController],
      providers: [
        { provide: DASHBOARD_PAGE, useFactory: readDashboardPage },
        // With moduleIdGeneratorAlgorithm 'deep-hash', Nest tells dynamic modules apart by their
        // serialized metadata, where the derived controller is only its class name: without the
        // path in it, a second dashboard would be taken for the first and dropped.
        { provide: DASHBOARD_PATH, useValue: path },
      ],
    };
  }
}
