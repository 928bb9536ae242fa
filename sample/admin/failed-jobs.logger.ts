import { Injectable, Logger } from '@nestjs/common';
import { Job, JobEvent, OnJobEvent } from '../../lib';

/**
 * Alerts on failures: runs once per failed job across all sample processes (in the one where it
 * failed). A real app would page someone here; a hook that throws is logged and changes nothing.
 */
@Injectable()
export class FailedJobsLogger {
  private readonly logger = new Logger('FailedJobs');

  @OnJobEvent('failed')
  onFailed(_event: JobEvent, job: Job): void {
    this.logger.error(
      `Job ${job.id} (${job.name}) failed after ${job.attempt} of ${job.attempts} attempt(s): ${job.error}`,
    );
  }
}
