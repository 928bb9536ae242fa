import { CanActivate, ExecutionContext, Injectable, NotFoundException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Messages } from '../errors/job-queue.messages';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobQueueService } from '../job-queue.service';
import { validateJobId } from '../validation/job-input.validator';
import type { ResolvedJobEventsOptions } from './job-events.options';
import { JobEventsRequest, asBadRequest, requestedJobIds, resumePoints, streamOutlook } from './job-events.request';
import { JobStreamEndedException } from './job-stream-ended.exception';

/**
 * Answers 400 (malformed id or resume point), 404 (unknown job; on a multiplexed route, only when
 * every job is unknown) and 204 (nothing left to send: a resume at or past the terminal event; on a
 * multiplexed route, of every job, an unknown job counting as ended) for @JobEvents routes. Nest
 * awaits guards before it opens an SSE response, whereas interceptors of SSE routes run after the
 * 200 headers may already be on their way: so every answer other than the stream itself is decided
 * here, from the ids of the request (the `idParam` route parameter or the `idsQuery` list).
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
    for (const jobId of jobIds) asBadRequest(() => validateJobId(jobId));
    const outlooks = await Promise.all(jobIds.map((jobId, i) => streamOutlook(this.jobs, jobId, after?.[i])));
    if (outlooks.every((outlook) => outlook === 'unknown')) {
      throw new NotFoundException(
        jobIds.length === 1 ? Messages.notFound(jobIds[0]) : Messages.noneOfTheJobsFound(jobIds.length),
      );
    }
    if (!outlooks.includes('open')) throw new JobStreamEndedException();
    return true;
  }
}
