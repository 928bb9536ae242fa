import type { Provider } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { JobQueueModule } from '../../lib';
import type { QueueBackend } from '../../lib/backends/queue-backend.interface';
import { JOB_QUEUE_BACKEND } from '../../lib/job-queue.constants';
import type { JobQueueModuleOptions } from '../../lib/job-queue.options';

/**
 * A testing module of `JobQueueModule.forRoot(options)` and `providers` whose backend is `backend`
 * (a test double built on a real backend), compiled and not initialized yet.
 */
export function compileWithBackend(
  backend: QueueBackend,
  providers: Provider[],
  options: JobQueueModuleOptions = {},
): Promise<TestingModule> {
  return Test.createTestingModule({ imports: [JobQueueModule.forRoot(options)], providers })
    .overrideProvider(JOB_QUEUE_BACKEND)
    .useValue(backend)
    .compile();
}
