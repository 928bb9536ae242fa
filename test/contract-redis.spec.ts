import { randomUUID } from 'node:crypto';
import { describeJobQueueContract } from './contract/job-queue.contract';
import { RedisServerHandle, startRedisServer } from './support/redis-server';

let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

// A fresh prefix per application: every test gets an empty queue on the file's server. Under the
// handle's prefix, so that stop() removes every key from a REDIS_URL server.
describeJobQueueContract('redis', () => ({
  redis: redis.url,
  prefix: `${redis.prefix}-c-${randomUUID().slice(0, 8)}`,
}));
