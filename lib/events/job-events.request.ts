import { BadRequestException, NotFoundException } from '@nestjs/common';
import { InvalidJobError, JobNotFoundError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { JobQueueService } from '../job-queue.service';
import { validateEventId, validateJobId } from '../validation/job-input.validator';

/** The parts of an HTTP request the @JobEvents checks read. */
export interface JobEventsRequest {
  params?: Record<string, string | undefined>;
  query?: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The validated resume point: the `Last-Event-ID` header, else the `lastEventId` query parameter
 * (a new EventSource cannot set the header, e.g. after a page reload). @throws BadRequestException
 */
export function lastEventId(request: JobEventsRequest): string | undefined {
  const header = request.headers['last-event-id'];
  const value = (Array.isArray(header) ? header[0] : header) || request.query?.lastEventId;
  if (value === undefined || value === '') return undefined;
  asBadRequest(() => validateEventId(value));
  return value as string;
}

/** @throws BadRequestException for a malformed id, NotFoundException for an unknown job */
export async function assertJobExists(jobs: JobQueueService, jobId: unknown): Promise<string> {
  asBadRequest(() => validateJobId(jobId));
  if (!(await jobs.get(jobId as string))) throw new NotFoundException(Messages.notFound(jobId as string));
  return jobId as string;
}

/**
 * True when `after` is at or past the job's terminal event: a stream would have nothing to send.
 * A retried job is not finished, so its stream goes on. @throws NotFoundException for an unknown job
 */
export async function resumesPastEnd(jobs: JobQueueService, jobId: string, after: string): Promise<boolean> {
  try {
    const page = await jobs.poll(jobId, { after, max: 1 });
    return page.done && page.events.length === 0;
  } catch (err) {
    if (err instanceof JobNotFoundError) throw new NotFoundException(err.message);
    throw err;
  }
}

/** Runs a validation, turning its InvalidJobError into a 400. */
export function asBadRequest(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof InvalidJobError) throw new BadRequestException(err.message);
    throw err;
  }
}
