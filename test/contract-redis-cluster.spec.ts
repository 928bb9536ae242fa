import { describeJobQueueContract } from './contract/job-queue.contract';
import { RedisClusterHandle, startRedisCluster } from './support/redis-cluster';

let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

// The user's own ioredis Cluster instance as option `redis`: the module duplicates it and never
// closes it. A fresh prefix per application, as on a single server.
let apps = 0;
describeJobQueueContract('redis cluster', () => ({ redis: cluster.client, prefix: `${cluster.prefix}-${++apps}` }));
