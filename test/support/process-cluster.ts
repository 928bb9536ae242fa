import { randomUUID } from 'node:crypto';
import { QueueProcess, QueueProcessSettings } from './queue-process';
import { RedisServerHandle, startRedisServer } from './redis-server';

/**
 * Jest hooks for a multi-process test file: one redis-server for the file (private, or REDIS_URL
 * unless `faults`), child processes per test (closed gracefully after each). `start(n, settings, prefix)` starts n processes sharing a
 * prefix (fresh by default), with `defaults` merged under each process's module options.
 */
export function useProcessCluster(
  defaults: Record<string, unknown> = {},
  { faults = false }: { faults?: boolean } = {},
) {
  const cluster = {
    redis: undefined as unknown as RedisServerHandle,
    procs: [] as QueueProcess[],
    /** Under the server handle's prefix, so its stop() removes every key from a REDIS_URL server. */
    freshPrefix: () => `${cluster.redis.prefix}-mp-${randomUUID().slice(0, 8)}`,
    async start(n: number, settings: QueueProcessSettings = {}, prefix?: string) {
      prefix ??= cluster.freshPrefix();
      const started = await Promise.all(
        Array.from({ length: n }, () =>
          QueueProcess.start(cluster.redis.url, { ...settings, module: { prefix, ...defaults, ...settings.module } }),
        ),
      );
      cluster.procs.push(...started);
      return started;
    },
  };
  beforeAll(async () => {
    cluster.redis = await startRedisServer({ faults });
  });
  afterAll(async () => {
    await cluster.redis?.stop();
  });
  afterEach(async () => {
    await Promise.all(cluster.procs.splice(0).map((p) => p.close()));
  });
  return cluster;
}
