import { performance } from 'node:perf_hooks';
import type { RedisOptions } from 'ioredis';
import type { JobQueueService } from '../lib';
import { sleep } from './clock';
import type { RedisProbe } from './redis-probe';

/** What every scenario gets from bench/run.ts. */
export interface BenchContext {
  /** Absent: in-memory backend only. */
  redis?: { host: string; port: number };
  probe?: RedisProbe;
  /** Jobs for the throughput runs. */
  jobs: number;
  log(message: string): void;
}

/** ioredis options for one process of the bench, named so CLIENT LIST can attribute connections. */
export function redisOptions(ctx: BenchContext, connectionName: string): RedisOptions | undefined {
  return ctx.redis && { host: ctx.redis.host, port: ctx.redis.port, connectionName };
}

/** Adds `count` jobs of `name` with addBulk in chunks (the fastest way to build a backlog). */
export async function addBacklog(jobs: JobQueueService, name: string, count: number, chunk = 1_000): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < count; done += chunk) {
    const size = Math.min(chunk, count - done);
    const added = await jobs.addBulk(Array.from({ length: size }, (_, i) => ({ name, data: { i: done + i } })));
    for (const job of added) ids.push(job.id);
  }
  return ids;
}

/** Resolves when `counts().completed` reaches `target`; polls every `everyMs`. Returns the time it was seen. */
export async function waitCompleted(
  jobs: JobQueueService,
  target: number,
  timeoutMs: number,
  everyMs = 10,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await jobs.counts();
    if (counts.completed >= target) return performance.now();
    if (Date.now() > deadline) {
      throw new Error(
        `only ${counts.completed}/${target} jobs completed within ${timeoutMs} ms (counts: ${JSON.stringify(counts)})`,
      );
    }
    await sleep(everyMs);
  }
}
