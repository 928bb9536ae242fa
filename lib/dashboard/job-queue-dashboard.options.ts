import type { CanActivate, Type } from '@nestjs/common';
import { JobQueueConfigError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';

/** A guard as `@UseGuards` takes it: a class (created in the dashboard's module) or an instance. */
export type JobQueueDashboardGuard = Type<CanActivate> | CanActivate;

/** Options of {@link JobQueueDashboardModule.forRoot}. */
export interface JobQueueDashboardOptions {
  /** Where the page is served, e.g. 'dashboard' or 'admin/jobs' (its JSON API lives under `<path>/api`). */
  path: string;
  /**
   * The guards every dashboard route runs (page, JSON API, event streams, buttons), after the app's
   * global guards. Required: pass `[]` to run the dashboard open, in development only. A guard class
   * is created in the dashboard's module, so its dependencies must come from global modules; pass an
   * instance otherwise.
   */
  guards: JobQueueDashboardGuard[];
}

/** One or more segments of URL-safe characters, none starting with a dot; slashes at either end allowed. */
const PATH = /^\/?[\w~-][\w.~-]*(\/[\w~-][\w.~-]*)*\/?$/;

/**
 * Checks the options; returns the path without slashes at its ends.
 * @throws JobQueueConfigError when `guards` is missing (nothing is open by default) or an option is malformed
 */
export function resolveDashboardOptions(options: JobQueueDashboardOptions | undefined): JobQueueDashboardOptions {
  const { path, guards } = options ?? ({} as Partial<JobQueueDashboardOptions>);
  if (guards === undefined) throw new JobQueueConfigError(Messages.dashboardGuardsMissing());
  if (!Array.isArray(guards) || !guards.every(isGuard)) {
    throw new JobQueueConfigError(
      Messages.invalidOption('guards', 'an array of guard classes or instances (objects with canActivate)', guards),
    );
  }
  if (typeof path !== 'string' || !PATH.test(path)) {
    throw new JobQueueConfigError(
      Messages.invalidOption('path', "a URL path such as 'dashboard' or 'admin/jobs'", path),
    );
  }
  return { path: path.replace(/^\/|\/$/g, ''), guards };
}

function isGuard(value: unknown): value is JobQueueDashboardGuard {
  return (
    typeof value === 'function' ||
    (typeof value === 'object' && value !== null && typeof (value as CanActivate).canActivate === 'function')
  );
}
