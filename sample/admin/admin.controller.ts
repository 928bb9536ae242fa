import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  JobCleanQuery,
  JobListPage,
  JobQueueService,
  JobSchedule,
  JobState,
  PausedState,
  RemoveResult,
  RetryResult,
} from '../../lib';
import { answerJobOutcome } from './job-outcome.http';

/**
 * Operating the queue over HTTP: find jobs, retry or remove them, clean old ones, pause a name
 * during an incident, see the schedules. The library validates every input: a bad state, name,
 * limit, cursor or delay is an InvalidJobError, answered 400 by JobQueueErrorsFilter.
 */
// A real app puts a guard on this controller (@UseGuards(AdminGuard)): anyone who reaches it can remove jobs.
@Controller('admin')
export class AdminController {
  constructor(private readonly jobs: JobQueueService) {}

  /** One page of the jobs in `state`, optionally of one `name`; pass the page's `cursor` for the next one. */
  @Get('jobs')
  list(
    @Query('state') state: JobState,
    @Query('name') name?: string,
    @Query('limit') limit?: string,
    @Query('cursor') cursor?: string,
  ): Promise<JobListPage> {
    return this.jobs.list({
      state,
      name: name || undefined,
      limit: limit === undefined ? undefined : Number(limit),
      cursor: cursor || undefined,
    });
  }

  /** Runs a finished job again under the same id (`{ "delayMs": 60000 }` to delay it). 404 unknown, 409 not finished. */
  @Post('jobs/:id/retry')
  @HttpCode(200)
  async retry(@Param('id') id: string, @Body() body?: { delayMs?: number }): Promise<{ result: RetryResult }> {
    return answerJobOutcome(id, await this.jobs.retry(id, body));
  }

  /** Deletes a waiting, delayed or finished job with its events. 404 unknown, 409 running (cancel it first). */
  @Delete('jobs/:id')
  async remove(@Param('id') id: string): Promise<{ result: RemoveResult }> {
    return answerJobOutcome(id, await this.jobs.remove(id));
  }

  /** Removes finished jobs: `{ "state": "completed", "olderThanMs": 86400000, "name"?, "limit"? }`. */
  @Post('clean')
  @HttpCode(200)
  async clean(@Body() body: JobCleanQuery): Promise<{ removed: number }> {
    return { removed: await this.jobs.clean(body) };
  }

  /** Pauses `?name=` (or the whole queue) in every process; running jobs finish. Answers what is paused now. */
  @Post('pause')
  @HttpCode(200)
  async pause(@Query('name') name?: string): Promise<PausedState> {
    await this.jobs.pause(name || undefined);
    return this.paused();
  }

  /** Clears the pause of `?name=` (or the queue-wide one). Answers what is still paused. */
  @Post('resume')
  @HttpCode(200)
  async resume(@Query('name') name?: string): Promise<PausedState> {
    await this.jobs.resume(name || undefined);
    return this.paused();
  }

  /** `{ queue, names }`: whether the whole queue is paused, and the names paused on their own. */
  @Get('paused')
  async paused(): Promise<PausedState> {
    return (await this.jobs.metrics()).paused;
  }

  /** Every schedule with its `nextAt` (absent once exhausted) and how many jobs it added. */
  @Get('schedules')
  schedules(): Promise<JobSchedule[]> {
    return this.jobs.schedules();
  }
}
