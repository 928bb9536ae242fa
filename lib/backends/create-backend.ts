import { JobQueueConfigError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { ResolvedJobQueueOptions } from '../job-queue.options';
import { MemoryBackend } from './memory/memory.backend';
import type { QueueBackend } from './queue-backend.interface';

/** Memory without `redis`, Redis otherwise. The Redis code (and ioredis) loads only when used. */
export async function createBackend(options: ResolvedJobQueueOptions): Promise<QueueBackend> {
  const backend: QueueBackend =
    options.redis === undefined ? new MemoryBackend(options) : (await loadRedisBackend()).createRedisBackend(options);
  await backend.start();
  return backend;
}

/** ioredis is an optional peer: without it, say what to install instead of "Cannot find module". */
async function loadRedisBackend(): Promise<typeof import('./redis/create-redis-backend')> {
  try {
    return await import('./redis/create-redis-backend');
  } catch (err) {
    const missing =
      (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && /'ioredis'/.test((err as Error).message);
    if (missing) throw new JobQueueConfigError(Messages.ioredisMissing());
    throw err;
  }
}
