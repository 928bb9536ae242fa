import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { JobQueueConfigError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';

/** Token of the page's HTML, read once when the app boots. */
export const DASHBOARD_PAGE = Symbol('job-queue:dashboard-page');

/** Token of the dashboard's path (without slashes at its ends). */
export const DASHBOARD_PATH = Symbol('job-queue:dashboard-path');

/** The page (HTML with its script inline: one request, and a guard reading the page's query sees every call). */
export function readDashboardPage(): string {
  const file = path.join(__dirname, 'page', 'dashboard.html');
  if (!existsSync(file)) throw new JobQueueConfigError(Messages.dashboardPageMissing(file));
  return readFileSync(file, 'utf8');
}
