import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobQueueService } from '../job-queue.service';
import type { ResolvedJobEventsOptions } from './job-events.options';
import { JobEventsRequest, assertJobExists, lastEventId } from './job-events.request';

/**
 * Answers 400 (malformed id or Last-Event-ID) and 404 (unknown job) for @JobEvents routes.
 * Nest awaits guards before it opens an SSE response, whereas interceptors of SSE routes run after
 * the 200 headers may already be on their way: so the checks that need a round trip live here.
 */
@Injectable()
export class JobEventsGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly jobs: JobQueueService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const options = this.reflector.get<ResolvedJobEventsOptions>(JOB_EVENTS_METADATA, context.getHandler());
    const request = context.switchToHttp().getRequest<JobEventsRequest>();
    const jobId = request.params?.[options.idParam];
    lastEventId(request);
    if (jobId !== undefined) await assertJobExists(this.jobs, jobId);
    return true;
  }
}
