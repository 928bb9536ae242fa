// The `nestjs-job-queue/health` entry point: the only one that needs @nestjs/terminus.
export { JobQueueHealthModule } from './job-queue-health.module';
export { JobQueueHealthIndicator, type JobQueueHealthOptions } from './job-queue.health';
