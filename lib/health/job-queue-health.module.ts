import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { JobQueueHealthIndicator } from './job-queue.health';

/**
 * Provides {@link JobQueueHealthIndicator}. Import it next to `JobQueueModule` (global, the
 * default) in the module of your health controller. It lives apart from `JobQueueModule`, behind
 * the `nestjs-job-queue/health` entry point, so that only apps that use it need `@nestjs/terminus`.
 */
@Module({
  imports: [TerminusModule],
  providers: [JobQueueHealthIndicator],
  exports: [JobQueueHealthIndicator],
})
export class JobQueueHealthModule {}
