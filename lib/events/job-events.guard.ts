import { BadRequestException, CanActivate, ExecutionContext, Injectable, NotFoundException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InvalidJobError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobQueueService } from '../job-queue.service';
import { validateEventId, validateJobId } from '../validation/job-input.validator';
import type { ResolvedJobEventsOptions } from './job-events.decorator';

/** The parts of an HTTP request the @JobEvents checks read. */
export interface JobEventsRequest {
  params?: Record<string, string | undefined>;
  headers: Record<string, string | string[] | undefined>;
}

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

/** The validated `Last-Event-ID` header, if any. @throws BadRequestException */
export function lastEventId(request: JobEventsRequest): string | undefined {
  const raw = request.headers['last-event-id'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === '') return undefined;
  asBadRequest(() => validateEventId(value));
  return value;
}

/** @throws BadRequestException for a malformed id, NotFoundException for an unknown job */
export async function assertJobExists(jobs: JobQueueService, jobId: unknown): Promise<string> {
  asBadRequest(() => validateJobId(jobId));
  if (!(await jobs.get(jobId as string))) throw new NotFoundException(Messages.notFound(jobId as string));
  return jobId as string;
}

function asBadRequest(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof InvalidJobError) throw new BadRequestException(err.message);
    throw err;
  }
}
