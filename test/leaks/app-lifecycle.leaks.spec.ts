import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { firstValueFrom, toArray } from 'rxjs';
import { Job, JobHandler, JobQueueModule, JobQueueModuleOptions, JobQueueService } from '../../lib';
import { RedisServerHandle, startRedisServer } from '../support/redis-server';

/**
 * Starts and closes a Nest application with the module 50 times per backend, each time running a
 * job, streaming its events and cancelling another. Afterwards the process holds the same handles
 * (sockets, timers) and listeners as after the first round, Redis sees no extra connection, and
 * the heap is back near where it was: nothing the module opens outlives its application.
 */

const ROUNDS = 50;
/** Heap growth allowed over 50 rounds after a full GC (caches of Nest, ts-jest, V8 code). */
const HEAP_SLACK_BYTES = 16 * 1024 * 1024;

@Injectable()
class LeakHandlers {
  @JobHandler('leak')
  async leak(job: Job<{ hold?: boolean }>, ctx: { signal: AbortSignal }) {
    if (job.data.hold) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    return 'ok';
  }
}

async function oneRound(options: JobQueueModuleOptions): Promise<void> {
  @Module({
    imports: [JobQueueModule.forRoot({ cancelGraceMs: 100, drainTimeoutMs: 500, ...options })],
    providers: [LeakHandlers],
  })
  class LeakModule {}
  const app = await NestFactory.createApplicationContext(LeakModule, { logger: false });
  const jobs = app.get(JobQueueService);
  const job = await jobs.add('leak', {});
  const events = await firstValueFrom(jobs.events(job.id).pipe(toArray()));
  expect(events.at(-1)?.type).toBe('completed');
  const held = await jobs.add('leak', { hold: true });
  const running = jobs.events(held.id).subscribe();
  await jobs.cancel(held.id);
  await jobs.waitFor(held.id);
  running.unsubscribe();
  await app.close();
}

/** Handles and requests by type, e.g. { TCPSocketWrap: 2, Timeout: 1 }. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

function processListeners(): number {
  return process.eventNames().reduce((sum, name) => sum + process.listenerCount(name), 0);
}

const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc');
})();

/** Sockets close and timers clear a few event-loop turns after close() resolves: wait for the counts, then compare. */
async function settledResources(expected: Record<string, number>): Promise<Record<string, number>> {
  let now = resources();
  for (let i = 0; i < 200 && JSON.stringify(now) !== JSON.stringify(expected); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    now = resources();
  }
  return now;
}

let redis: RedisServerHandle;
let admin: Redis;
beforeAll(async () => {
  redis = await startRedisServer({ faults: true }); // a private server: its CLIENT LIST is ours alone
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

async function redisClients(): Promise<number> {
  return ((await admin.call('CLIENT', 'LIST')) as string).trim().split('\n').length;
}

describe.each([
  ['memory', (): JobQueueModuleOptions => ({})],
  ['redis', (): JobQueueModuleOptions => ({ redis: redis.url, prefix: `leak-${randomUUID().slice(0, 8)}` })],
])('leaks: %s backend, app started and closed 50 times', (_label, backendOptions) => {
  jest.setTimeout(120_000);

  it('leaves handles, listeners, Redis connections and the heap at their baseline', async () => {
    const options = backendOptions();
    const before = resources();
    await oneRound(options); // warm-up: module loading, lazy singletons
    gc();
    const baseline = {
      resources: await settledResources(before),
      listeners: processListeners(),
      clients: await redisClients(),
      heap: process.memoryUsage().heapUsed,
    };

    for (let round = 0; round < ROUNDS; round++) await oneRound(options);

    expect(await settledResources(baseline.resources)).toEqual(baseline.resources);
    expect(processListeners()).toBe(baseline.listeners);
    let clients = await redisClients();
    for (let i = 0; i < 100 && clients !== baseline.clients; i++) clients = await redisClients();
    expect(clients).toBe(baseline.clients);
    gc();
    expect(process.memoryUsage().heapUsed - baseline.heap).toBeLessThan(HEAP_SLACK_BYTES);
  });
});
