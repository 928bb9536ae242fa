import {
  BadRequestException,
  Delete,
  Get,
  Header,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import type { PausedState } from '../backends/pause-levels';
import { JobEvents } from '../decorators/job-events.decorator';
import { InvalidJobError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { CancelResult, Job, JobState } from '../interfaces/job.interface';
import type { JobListPage, RemoveResult, RetryResult } from '../interfaces/job-operations.interface';
import { JobQueueService } from '../job-queue.service';
import { DASHBOARD_PAGE } from './dashboard-page';

/** What the page's header shows: jobs per state and what is paused. */
export interface DashboardOverview {
  counts: Record<JobState, number>;
  paused: PausedState;
}

/** Reason stored on jobs cancelled with the dashboard's button. */
export const DASHBOARD_CANCEL_REASON = 'cancelled from the dashboard';

/**
 * The dashboard's routes. Not a controller by itself: `JobQueueDashboardModule.forRoot()` derives
 * one class per call and gives it the app's path and guards, so nothing here is open or mounted
 * unless the app asks for it. Bad input (state, name, limit, cursor, id) answers 400.
 */
export class JobQueueDashboardRoutes {
  constructor(
    @Inject(JobQueueService) private readonly jobs: JobQueueService,
    @Inject(DASHBOARD_PAGE) private readonly html: string,
  ) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  page(): string {
    return this.html;
  }

  @Get('api/overview')
  async overview(): Promise<DashboardOverview> {
    const { counts, paused } = await this.jobs.metrics();
    return { counts, paused };
  }

  /** One page of `list()`; `limit` and `cursor` as the service takes them. */
  @Get('api/jobs')
  list(
    @Query('state') state: JobState,
    @Query('name') name?: string,
    @Query('limit') limit?: string,
    @Query('cursor') cursor?: string,
  ): Promise<JobListPage> {
    return badRequestOnInvalid(() =>
      this.jobs.list({
        state,
        name: name || undefined,
        limit: limit === undefined ? undefined : Number(limit),
        cursor: cursor || undefined,
      }),
    );
  }

  @Get('api/jobs/:id')
  async job(@Param('id') id: string): Promise<Job> {
    const job = await badRequestOnInvalid(() => this.jobs.get(id));
    if (!job) throw new NotFoundException(Messages.notFound(id));
    return job;
  }

  /**
   * The job's event log, live. Unnamed messages, so the page's `onmessage` also sees custom types.
   * Like every stream of a job, it counts as client activity for `watchClient` while open.
   */
  @JobEvents('api/jobs/:id/events', { namedEvents: false })
  events(@Param('id') id: string): string {
    return id;
  }

  @Post('api/jobs/:id/cancel')
  @HttpCode(200)
  async cancel(@Param('id') id: string): Promise<{ result: CancelResult }> {
    return { result: await badRequestOnInvalid(() => this.jobs.cancel(id, DASHBOARD_CANCEL_REASON)) };
  }

  @Post('api/jobs/:id/retry')
  @HttpCode(200)
  async retry(@Param('id') id: string): Promise<{ result: RetryResult }> {
    return { result: await badRequestOnInvalid(() => this.jobs.retry(id)) };
  }

  @Delete('api/jobs/:id')
  async remove(@Param('id') id: string): Promise<{ result: RemoveResult }> {
    return { result: await badRequestOnInvalid(() => this.jobs.remove(id)) };
  }

  /** Pauses job `?name=`, or the whole queue without one. */
  @Post('api/pause')
  @HttpCode(200)
  async pause(@Query('name') name?: string): Promise<DashboardOverview['paused']> {
    await badRequestOnInvalid(() => this.jobs.pause(name || undefined));
    return (await this.overview()).paused;
  }

  /** Resumes job `?name=`, or clears the queue-wide pause without one. */
  @Post('api/resume')
  @HttpCode(200)
  async resume(@Query('name') name?: string): Promise<DashboardOverview['paused']> {
    await badRequestOnInvalid(() => this.jobs.resume(name || undefined));
    return (await this.overview()).paused;
  }
}

/** Runs a service call, turning its InvalidJobError (bad query or id) into a 400 with the same message. */
async function badRequestOnInvalid<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof InvalidJobError) throw new BadRequestException(err.message);
    throw err;
  }
}
