import type { ResolvedJobQueueOptions } from '../job-queue.options';
import { MemoryBackend } from './memory/memory.backend';
import type { QueueBackend } from './queue-backend.interface';

/** Memory without `redis`, Redis otherwise. The Redis code (and ioredis) loads only when used. */
export async function createBackend(options: ResolvedJobQueueOptions): Promise<QueueBackend> {
  const backend: QueueBackend =
    options.redis === undefined
      ? new MemoryBackend(options)
      : (await import('./redis/redis.backend')).createRedisBackend(options);
  await backend.start();
  return backend;
}
