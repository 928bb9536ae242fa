// The `nestjs-job-queue/dashboard` entry point: apps without a dashboard load none of it.
export { JobQueueDashboardModule } from './job-queue-dashboard.module';
export type { JobQueueDashboardOptions, JobQueueDashboardGuard } from './job-queue-dashboard.options';
export { DASHBOARD_CANCEL_REASON, type DashboardOverview } from './job-queue-dashboard.routes';
