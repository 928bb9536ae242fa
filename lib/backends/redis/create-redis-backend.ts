import type { ResolvedJobQueueOptions } from '../../job-queue.options';
import type { QueueBackend } from '../queue-backend.interface';
import type { RedisBackendLogger } from './redis-connections';
import { RedisShardedBackend } from './redis-sharded.backend';
import { RedisBackend } from './redis.backend';

/** Builds the Redis backend from resolved options (`options.redis` must be set): sharded with `shards.count` > 1. */
export function createRedisBackend(options: ResolvedJobQueueOptions, logger?: RedisBackendLogger): QueueBackend {
  return options.shards.count > 1 ? new RedisShardedBackend(options, logger) : new RedisBackend(options, logger);
}
