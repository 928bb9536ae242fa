import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { JobQueueMetrics, JobQueueService } from '../../lib';
import { JobQueueHealthIndicator } from '../../lib/health';

@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly jobQueue: JobQueueHealthIndicator,
    private readonly jobs: JobQueueService,
  ) {}

  /** 200 { status: 'ok', info: { 'job-queue': { status: 'up', … } } }, or 503 with the reason. */
  @Get('health')
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.jobQueue.isHealthy('job-queue')]);
  }

  /** A JSON snapshot: counts per state, jobs running here, dispatcher and watchdog counters. */
  @Get('metrics')
  metrics(): Promise<JobQueueMetrics> {
    return this.jobs.metrics();
  }
}
