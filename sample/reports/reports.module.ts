import { Module } from '@nestjs/common';
import { NightlyReportSchedule } from './nightly-report.schedule';
import { ReportProcessor } from './report.processor';

/** The `report` job and the schedule that adds it every night. */
@Module({ providers: [ReportProcessor, NightlyReportSchedule] })
export class ReportsModule {}
