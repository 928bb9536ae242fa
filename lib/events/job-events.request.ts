import { BadRequestException, NotFoundException } from '@nestjs/common';
import { InvalidJobError, JobNotFoundError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { JobQueueService } from '../job-queue.service';
import { validateEventId, validateJobId } from '../validation/job-input.validator';
import { MAX_MULTIPLEXED_JOBS, decodeCursor } from './job-events.cursor';
import type { ResolvedJobEventsOptions } from './job-events.options';

/** The parts of an HTTP request the @JobEvents checks read. */
export interface JobEventsRequest {
  params?: Record<string, string | undefined>;
  query?: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The job ids the request names: the `idParam` route parameter, or the `idsQuery` list of a
 * multiplexed route; undefined when a single-job route has no such parameter.
 * @throws BadRequestException for a malformed, empty, duplicate or too long list
 */
export function requestedJobIds(request: JobEventsRequest, options: ResolvedJobEventsOptions): string[] | undefined {
  if (options.idsQuery === undefined) {
    const jobId = request.params?.[options.idParam];
    return jobId === undefined ? undefined : [jobId];
  }
  const raw = request.query?.[options.idsQuery];
  if (typeof raw !== 'string' || raw === '') throw new BadRequestException(Messages.jobIdsQuery(options.idsQuery));
  return checkedJobIds(raw.split(','));
}

/** The ids a multiplexed route's method returned, checked like the query list. */
export function checkedJobIds(ids: unknown): string[] {
  if (
    !Array.isArray(ids) ||
    ids.length === 0 ||
    ids.length > MAX_MULTIPLEXED_JOBS ||
    new Set(ids).size !== ids.length
  ) {
    throw new BadRequestException(Messages.jobIdList(MAX_MULTIPLEXED_JOBS));
  }
  for (const id of ids) asBadRequest(() => validateJobId(id));
  return ids as string[];
}

/**
 * The validated resume point of each of `count` jobs: from the `Last-Event-ID` header, else the
 * `lastEventId` query parameter (a new EventSource cannot set the header, e.g. after a page reload).
 * A single-job route takes an event id; a multiplexed one a cursor of `count` event ids.
 * @throws BadRequestException
 */
export function resumePoints(
  request: JobEventsRequest,
  options: ResolvedJobEventsOptions,
  count = 1,
): string[] | undefined {
  const header = request.headers['last-event-id'];
  const value = (Array.isArray(header) ? header[0] : header) || request.query?.lastEventId;
  if (value === undefined || value === '') return undefined;
  if (options.idsQuery === undefined) {
    asBadRequest(() => validateEventId(value));
    return [value as string];
  }
  const parts = typeof value === 'string' ? decodeCursor(value, count) : undefined;
  if (!parts) throw new BadRequestException(Messages.eventCursor(count));
  for (const part of parts) asBadRequest(() => validateEventId(part));
  return parts;
}

/** @throws BadRequestException for a malformed id, NotFoundException for an unknown job */
export async function assertJobExists(jobs: JobQueueService, jobId: unknown): Promise<string> {
  asBadRequest(() => validateJobId(jobId));
  if (!(await jobs.get(jobId as string))) throw new NotFoundException(Messages.notFound(jobId as string));
  return jobId as string;
}

/**
 * What a stream of the job would send from `after` (from the start when undefined): 'unknown' (no
 * such job, never added or removed after its retention), 'ended' (`after` is at or past its terminal
 * event: nothing) or 'open'. A retried job is not finished, so its stream goes on.
 */
export async function streamOutlook(
  jobs: JobQueueService,
  jobId: string,
  after: string | undefined,
): Promise<'unknown' | 'ended' | 'open'> {
  if (after === undefined) return (await jobs.get(jobId)) ? 'open' : 'unknown';
  try {
    const page = await jobs.poll(jobId, { after, max: 1 });
    return page.done && page.events.length === 0 ? 'ended' : 'open';
  } catch (err) {
    if (err instanceof JobNotFoundError) return 'unknown';
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
