import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { RedisBackend } from '../lib/backends/redis/redis.backend';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { describeBackendConformance } from './conformance/backend.conformance';
import { RedisServerHandle, startRedisServer } from './support/redis-server';
import { silentLogger } from './support/backend-collectors';

let server: RedisServerHandle;
let admin: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});
afterAll(async () => {
  await admin?.quit();
  await server?.stop();
});

describeBackendConformance('redis', {
  async create(options) {
    const prefix = `${server.prefix}-k-${randomUUID().slice(0, 8)}`;
    const backend = new RedisBackend(resolveJobQueueOptions({ ...options, redis: server.url, prefix }), silentLogger);
    await backend.start();
    return backend;
  },
  async setSequence(backend, n) {
    await admin.set((backend as RedisBackend).keys.seq, n);
  },
  leasesExpire: true,
});
