import { BeforeApplicationShutdown, Logger, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { JobQueueModule, JobQueueModuleOptions } from '../lib';
import { AdminModule } from './admin/admin.module';
import { JobQueueDashboardModule } from '../lib/dashboard';
import { BuildsModule } from './builds/builds.module';
import { DashboardTokenGuard } from './dashboard/dashboard-token.guard';
import { DemoModule } from './demo/demo.module';
import { HealthModule } from './health/health.module';
import { JobQueueErrorsFilter } from './job-queue-errors.filter';
import { MetricsModule } from './metrics/metrics.module';
import { ReportsModule } from './reports/reports.module';

/** SIGTERM: running builds get this long to finish, then go back to the queue (JQ_DRAIN_TIMEOUT_MS overrides). */
const DRAIN_TIMEOUT_MS = 15_000;

/**
 * The queue's options, read when the module is created. REDIS_URL set → every sample process on
 * that Redis shares one queue; unset → an in-memory queue in this process, same behaviour.
 */
export function sampleQueueOptions(env: NodeJS.ProcessEnv = process.env): JobQueueModuleOptions {
  return {
    redis: env.REDIS_URL || undefined,
    prefix: env.JQ_PREFIX || 'jq-sample',
    leaseMs: 30_000,
    drainTimeoutMs: Number(env.JQ_DRAIN_TIMEOUT_MS) || DRAIN_TIMEOUT_MS,
    cancelGraceMs: 5_000,
    // A build nobody streams or polls for 60 s is cancelled with reason 'client-gone'.
    watchdog: { intervalMs: 5_000, clientTimeoutMs: 60_000 },
    events: { maxLen: 10_000, retentionMs: 15 * 60_000 },
    maxWaiting: 1_000, // beyond this, POST /builds answers 429
  };
}

@Module({
  imports: [
    // The async form: a real app would inject its ConfigService here (imports/inject).
    JobQueueModule.forRootAsync({ useFactory: () => sampleQueueOptions() }),
    TerminusModule,
    BuildsModule,
    ReportsModule,
    AdminModule,
    HealthModule,
    MetricsModule,
    DemoModule,
    // The queue's dashboard at /dashboard?token=demo (DASHBOARD_TOKEN overrides): a demo guard.
    JobQueueDashboardModule.forRoot({ path: 'dashboard', guards: [DashboardTokenGuard] }),
  ],
  providers: [{ provide: APP_FILTER, useClass: JobQueueErrorsFilter }],
})
export class AppModule implements BeforeApplicationShutdown {
  beforeApplicationShutdown(signal?: string): void {
    if (signal)
      new Logger('Sample').log(
        `${signal}: no new builds; running ones drain (up to ${DRAIN_TIMEOUT_MS / 1000} s), the rest go back to the queue`,
      );
  }
}
