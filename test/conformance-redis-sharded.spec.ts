import { randomUUID } from 'node:crypto';
import { RedisShardedBackend } from '../lib/backends/redis/redis-sharded.backend';
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

/**
 * The suite's names whose cases check an order among several jobs, or cross-process limits: pinned,
 * so those jobs share a shard (order holds per shard). Every other name's jobs spread over the 3
 * shards (3 masters), and a pinned name's jobs are looked up by id through the pinned shard.
 */
const PINNED = ['w', 'wrap', 'd', 'busy', 'r', 'h', 's', 'p', 'g', 'rare', 'common'];

describeBackendConformance('redis cluster, 3 shards', {
  async create(options) {
    const prefix = `${cluster.prefix}-s-${randomUUID().slice(0, 8)}`;
    const resolved = resolveJobQueueOptions({
      ...options,
      redis: cluster.client,
      prefix,
      shards: { count: 3, pin: PINNED },
    });
    const backend = new RedisShardedBackend(resolved, silentLogger);
    await backend.start();
    return backend;
  },
  async setSequence(backend, n) {
    await Promise.all((backend as RedisShardedBackend).parts.map((part) => cluster.client.set(part.keys.seq, n)));
  },
  leasesExpire: true,
});
