import type Redis from 'ioredis';

/** Whether the server carries the queue's messages on sharded pub/sub (Redis >= 7), as RedisConnections decides. */
export async function usesShardedPubSub(admin: Redis): Promise<boolean> {
  return Number(await admin.eval('return (redis.REDIS_VERSION_NUM or 0) >= 0x070000 and 1 or 0', 0)) === 1;
}

/** Publishes on a queue channel the way the scripts do (SPUBLISH on Redis >= 7, else PUBLISH). */
export async function publishAsQueue(admin: Redis, channel: string, message: string): Promise<unknown> {
  return admin.call((await usesShardedPubSub(admin)) ? 'SPUBLISH' : 'PUBLISH', channel, message);
}
