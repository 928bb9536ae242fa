import { SetMetadata } from '@nestjs/common';
import { JOB_HANDLER_METADATA } from '../job-queue.constants';
import { validateJobName } from '../validation/job-input.validator';

/** Options of {@link JobHandler}. */
export interface JobHandlerOptions {
  /** How many jobs of this name this process runs at once. Default 1. */
  concurrency?: number;
}

/** What @JobHandler stores on the method. */
export interface JobHandlerMetadata {
  name: string;
  concurrency: number;
}

/**
 * Marks a provider method as the handler of job `name`. The method is called as
 * `(job: Job<T>, ctx: JobContext) => Promise<R>`; its return value becomes the job's result.
 * Exactly one handler per name may exist in an application.
 */
export function JobHandler(name: string, options: JobHandlerOptions = {}): MethodDecorator {
  validateJobName(name);
  const concurrency = options.concurrency ?? 1;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 10_000) {
    throw new TypeError(`@JobHandler('${name}'): concurrency must be an integer from 1 to 10000; got ${concurrency}.`);
  }
  return SetMetadata<string, JobHandlerMetadata>(JOB_HANDLER_METADATA, { name, concurrency });
}
