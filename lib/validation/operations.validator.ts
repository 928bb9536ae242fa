import { InvalidJobError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { CleanQuery, ListQuery } from '../backends/queue-backend.interface';
import type { FinishedJobState, JobCleanQuery, JobListQuery } from '../interfaces/job-operations.interface';
import { JOB_STATES, TERMINAL_STATES } from '../interfaces/job.interface';
import { MAX_DELAY_MS, requireInt, validateJobName } from './job-input.validator';
import { decodeListCursor } from './list-cursor';

/** Default and largest page size of `list()`. */
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1_000;
const FINISHED_STATES = [...TERMINAL_STATES] as FinishedJobState[];

function requireObject(option: string, value: unknown): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidJobError(Messages.invalidOption(option, 'an object', value));
  }
}

function requireOneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw new InvalidJobError(Messages.invalidOption(option, `one of ${allowed.join(', ')}`, value));
  }
}

/** `list()` input as the backend query. @throws InvalidJobError */
export function toListQuery(q: JobListQuery): ListQuery {
  requireObject('query', q);
  requireOneOf('state', q.state, JOB_STATES);
  if (q.name !== undefined) validateJobName(q.name);
  const limit = q.limit ?? DEFAULT_LIST_LIMIT;
  requireInt('limit', limit, 1, MAX_LIST_LIMIT);
  const query: ListQuery = { state: q.state, limit };
  if (q.name !== undefined) query.name = q.name;
  if (q.cursor !== undefined) query.after = decodeListCursor(q.cursor, q.state, q.name);
  return query;
}

/** `retry()` options: the delay in ms (0: waiting at once). @throws InvalidJobError */
export function retryDelay(opts: { delayMs?: number } | undefined): number {
  if (opts === undefined) return 0;
  requireObject('opts', opts);
  const delayMs = opts.delayMs ?? 0;
  requireInt('delayMs', delayMs, 0, MAX_DELAY_MS);
  return delayMs;
}

/** `clean()` input as the backend query, relative to `now`. @throws InvalidJobError */
export function toCleanQuery(q: JobCleanQuery, now: number): CleanQuery {
  requireObject('query', q);
  requireOneOf('state', q.state, FINISHED_STATES);
  const olderThanMs = q.olderThanMs ?? 0;
  requireInt('olderThanMs', olderThanMs, 0, Number.MAX_SAFE_INTEGER);
  if (q.name !== undefined) validateJobName(q.name);
  if (q.limit !== undefined) requireInt('limit', q.limit, 1, Number.MAX_SAFE_INTEGER);
  const query: CleanQuery = { state: q.state, finishedBefore: now - olderThanMs, limit: q.limit ?? Infinity };
  if (q.name !== undefined) query.name = q.name;
  return query;
}
