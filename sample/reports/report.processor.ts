import { Injectable, Logger } from '@nestjs/common';
import { Job, JobHandler } from '../../lib';

/** What a `report` job returns. */
export interface ReportResult {
  /** The day the report covers (UTC, YYYY-MM-DD): the day before the job was added. */
  day: string;
}

/** The job the nightly schedule adds; a stand-in for a real report, which would query and mail something. */
@Injectable()
export class ReportProcessor {
  private readonly logger = new Logger('Report');

  @JobHandler('report')
  async report(job: Job): Promise<ReportResult> {
    const day = new Date(job.createdAt - 86_400_000).toISOString().slice(0, 10);
    this.logger.log(`Report for ${day} (job ${job.id})`);
    return { day };
  }
}
