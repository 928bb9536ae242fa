import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobQueueService } from '../job-queue.service';
import { validateJobId } from '../validation/job-input.validator';
import type { ResolvedJobEventsOptions } from './job-events.options';
import {
  JobEventsRequest,
  asBadRequest,
  assertJobExists,
  requestedJobIds,
  resumePoints,
  resumesPastEnd,
} from './job-events.request';
import { JobStreamEndedException } from './job-stream-ended.exception';

/**
 * Answers 400 (malformed id or resume point), 404 (unknown job) and 204 (resume at or past the
 * terminal event; of every job, on a multiplexed route) for @JobEvents routes. Nest awaits guards before it opens an SSE response,
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
    const jobIds = requestedJobIds(request, options);
    const after = resumePoints(request, options, jobIds?.length);
    if (jobIds === undefined) return true;
    if (after === undefined) {
      await Promise.all(jobIds.map((jobId) => assertJobExists(this.jobs, jobId)));
      return true;
    }
    for (const jobId of jobIds) asBadRequest(() => validateJobId(jobId));
    const ended = await Promise.all(jobIds.map((jobId, i) => resumesPastEnd(this.jobs, jobId, after[i])));
    if (ended.every(Boolean)) throw new JobStreamEndedException();
    return true;
  }
}
