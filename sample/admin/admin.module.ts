import { Module } from '@nestjs/common';
import { AdminController } from './admin.controller';
import { FailedJobsLogger } from './failed-jobs.logger';

/** Routes under /admin to operate the queue, and the failure alert. */
@Module({ providers: [FailedJobsLogger], controllers: [AdminController] })
export class AdminModule {}
