import { describeJobQueueContract } from './contract/job-queue.contract';
import { RedisClusterHandle, startRedisCluster } from './support/redis-cluster';

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

/**
 * The contract's names with cross-process limits (which a sharded queue requires pinned), and those
 * whose cases check an order among several jobs or a queue-wide maxWaiting (both hold per shard:
 * pinned, these jobs share one). Every other name's jobs spread over the 3 shards, so the 3 masters.
 */
const PINNED = ['throttled', 'capped', 'serial', 'solo', 'gated', 'a', 'b', 'odd', 'even', 'p', 'r', 'bounded'];

let apps = 0;
describeJobQueueContract('redis cluster, 3 shards', () => ({
  redis: cluster.client,
  prefix: `${cluster.prefix}-${++apps}`,
  shards: { count: 3, pin: PINNED },
}));
