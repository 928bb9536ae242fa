import { BadRequestException, NotFoundException } from '@nestjs/common';
import { InvalidJobError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { JobQueueService } from '../job-queue.service';
import { validateEventId, validateJobId } from '../validation/job-input.validator';

/** The parts of an HTTP request the @JobEvents checks read. */
export interface JobEventsRequest {
  params?: Record<string, string | undefined>;
  headers: Record<string, string | string[] | undefined>;
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

/** Runs a validation, turning its InvalidJobError into a 400. */
export function asBadRequest(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof InvalidJobError) throw new BadRequestException(err.message);
    throw err;
  }
}
