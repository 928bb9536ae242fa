import { randomUUID } from 'node:crypto';
import { RedisBackend } from '../lib/backends/redis/redis.backend';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { describeBackendConformance } from './conformance/backend.conformance';
import { RedisClusterHandle, startRedisCluster } from './support/redis-cluster';
import { silentLogger } from './support/backend-collectors';

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

describeBackendConformance('redis cluster', {
  async create(options) {
    const prefix = `${cluster.prefix}-k-${randomUUID().slice(0, 8)}`;
    const backend = new RedisBackend(
      resolveJobQueueOptions({ ...options, redis: cluster.client, prefix }),
      silentLogger,
    );
    await backend.start();
    return backend;
  },
  async setSequence(backend, n) {
    await cluster.client.set((backend as RedisBackend).keys.seq, n);
  },
  leasesExpire: true,
});
