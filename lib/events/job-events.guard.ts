import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobQueueService } from '../job-queue.service';
import { validateJobId } from '../validation/job-input.validator';
import type { ResolvedJobEventsOptions } from './job-events.options';
import { JobEventsRequest, asBadRequest, assertJobExists, lastEventId, resumesPastEnd } from './job-events.request';
import { JobStreamEndedException } from './job-stream-ended.exception';

/**
 * Answers 400 (malformed id or resume point), 404 (unknown job) and 204 (resume at or past the
 * terminal event) for @JobEvents routes. Nest awaits guards before it opens an SSE response,
 * whereas interceptors of SSE routes run after the 200 headers may already be on their way: so
 * every answer other than the stream itself is decided here.
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
    const after = lastEventId(request);
    if (jobId === undefined) return true;
    if (after === undefined) {
      await assertJobExists(this.jobs, jobId);
    } else {
      asBadRequest(() => validateJobId(jobId));
      if (await resumesPastEnd(this.jobs, jobId, after)) throw new JobStreamEndedException();
    }
    return true;
  }
}
