import { randomUUID } from 'node:crypto';
import { RedisBackend } from '../lib/backends/redis/redis.backend';
import { createJobQueueOptions } from '../lib/job-queue.options.factory';
import { describeBackendConformance } from './conformance/backend.conformance';
import { RedisClusterHandle, startRedisCluster } from './support/redis-cluster';

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

const silent = { log: () => undefined, warn: () => undefined, error: () => undefined };

describeBackendConformance('redis cluster', {
  async create(options) {
    const prefix = `${cluster.prefix}-k-${randomUUID().slice(0, 8)}`;
    const backend = new RedisBackend(createJobQueueOptions({ ...options, redis: cluster.client, prefix }), silent);
    await backend.start();
    return backend;
  },
  async setSequence(backend, n) {
    await cluster.client.set((backend as RedisBackend).keys.seq, n);
  },
  leasesExpire: true,
});
