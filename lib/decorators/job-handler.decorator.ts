import { SetMetadata } from '@nestjs/common';
import { JOB_HANDLER_METADATA } from '../job-queue.constants';
import { JobQueueConfigError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import { validateJobName } from '../validation/job-input.validator';

/** Options of {@link JobHandler}. */
export interface JobHandlerOptions {
  /** How many jobs of this name this process runs at once. Default 1. */
  concurrency?: number;
  /**
   * At most `max` starts of this name in any interval of `perMs` ms, across every process sharing
   * the queue (a sliding window). Jobs held back stay `waiting` and start as soon as it allows.
   */
  rateLimit?: { max: number; perMs: number };
  /** At most this many running jobs of this name across every process sharing the queue. */
  globalConcurrency?: number;
}

/** What @JobHandler stores on the method. */
export interface JobHandlerMetadata {
  name: string;
  concurrency: number;
  rateLimit?: { max: number; perMs: number };
  globalConcurrency?: number;
}

/** A rate window longer than a day is a schedule, not a rate limit. */
const MAX_RATE_WINDOW_MS = 86_400_000;

/**
 * Marks a provider method as the handler of job `name`. The method is called as
 * `(job: Job<T>, ctx: JobContext) => Promise<R>`; its return value becomes the job's result.
 * Exactly one handler per name may exist in an application; every process that runs the name
 * should declare the same `rateLimit` / `globalConcurrency`.
 */
export function JobHandler(name: string, options: JobHandlerOptions = {}): MethodDecorator {
  validateJobName(name);
  const problem = (option: string, rule: string, value: unknown) =>
    new JobQueueConfigError(Messages.invalidHandlerOption(name, option, rule, value));
  const concurrency = options.concurrency ?? 1;
  if (!isIntIn(concurrency, 1, 10_000)) throw problem('concurrency', 'an integer from 1 to 10000', concurrency);
  const metadata: JobHandlerMetadata = { name, concurrency };
  const { rateLimit, globalConcurrency } = options;
  if (rateLimit !== undefined) {
    if (
      typeof rateLimit !== 'object' ||
      rateLimit === null ||
      !isIntIn(rateLimit.max, 1, 1_000_000) ||
      !isIntIn(rateLimit.perMs, 1, MAX_RATE_WINDOW_MS)
    ) {
      throw problem(
        'rateLimit',
        `{ max: an integer from 1 to 1000000, perMs: an integer from 1 to ${MAX_RATE_WINDOW_MS} }`,
        rateLimit,
      );
    }
    metadata.rateLimit = { max: rateLimit.max, perMs: rateLimit.perMs };
  }
  if (globalConcurrency !== undefined) {
    if (!isIntIn(globalConcurrency, 1, 1_000_000))
      throw problem('globalConcurrency', 'an integer from 1 to 1000000', globalConcurrency);
    metadata.globalConcurrency = globalConcurrency;
  }
  return SetMetadata<string, JobHandlerMetadata>(JOB_HANDLER_METADATA, metadata);
}

function isIntIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}
