import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { CancelResult, Job, JobEventPage, JobEvents, JobQueueService } from '../../lib';
import { BuildInput, BuildResult, parseBuildInput } from './build.types';

/**
 * The HTTP face of the `build` job. Any sample process can serve any of these routes for any
 * build: on Redis, start a build on one process, stream it from a second and cancel it on a third.
 * The library's errors become HTTP statuses in JobQueueErrorsFilter (400 / 404 / 429 / 503).
 */
@Controller('builds')
export class BuildsController {
  constructor(private readonly jobs: JobQueueService) {}

  /** Starts a build. `watchClient`: it is cancelled ('client-gone') when nobody streams or polls it. */
  @Post()
  start(@Body() body: unknown): Promise<Job<BuildInput>> {
    return this.jobs.add('build', parseBuildInput(body), { watchClient: true });
  }

  /**
   * One stream for many builds (`?ids=a,b,c`, at most 100): a browser holds one connection instead of
   * one per build (HTTP/1.1 allows six per host). Each message's data has its build's `jobId`; its
   * `id` is a cursor that resumes every build where it stopped. Declared before `:id` routes.
   */
  @JobEvents('events', { idsQuery: 'ids', heartbeatMs: 15_000 })
  eventsOfMany(@Query('ids') ids: string): string[] {
    return ids.split(',');
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<Job<BuildInput, BuildResult>> {
    const job = await this.jobs.get(id);
    if (!job) throw new NotFoundException(`No build with id '${id}' (never started, or expired after its retention).`);
    return job as Job<BuildInput, BuildResult>;
  }

  /**
   * text/event-stream of the build's events: history, then live, ending after the terminal event.
   * `Last-Event-ID` resumes after that event. Unknown id → 404, malformed → 400, before the stream opens.
   */
  @JobEvents(':id/events', { heartbeatMs: 15_000 })
  events(@Param('id') id: string): string {
    return id;
  }

  /**
   * The same stream, but the build belongs to this connection: when the client goes away before
   * the build ended, it is cancelled ('client-disconnected'), wherever it runs, unless a stream of
   * it on this route comes back within 10 s (the grace) on any sample process.
   */
  @JobEvents(':id/follow', { heartbeatMs: 15_000, cancelOnDisconnect: true })
  follow(@Param('id') id: string): string {
    return id;
  }

  /** The same events as pages, for clients that cannot hold a stream: `?after=<next>&max=100`. */
  @Get(':id/poll')
  poll(@Param('id') id: string, @Query('after') after?: string, @Query('max') max?: string): Promise<JobEventPage> {
    return this.jobs.poll(id, { after: after || undefined, max: max === undefined ? undefined : Number(max) });
  }

  /** 'cancelled' (was waiting), 'cancelling' (running: its signal aborts), 'already_finished' or 'not_found'. */
  @Post(':id/cancel')
  @HttpCode(200)
  async cancel(@Param('id') id: string): Promise<{ result: CancelResult }> {
    return { result: await this.jobs.cancel(id) };
  }
}
