import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Cluster } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { Job, JobEvent, JobHandler, JobQueueModule, JobQueueService } from '../lib';
import { QUEUE_LEVEL } from '../lib/backends/pause-levels';
import type { ClaimedJob, NewJob } from '../lib/backends/queue-backend.interface';
import { ROTATION_MS } from '../lib/backends/redis/redis-shard-claims';
import { PIN_SHARD, RedisShardRouter } from '../lib/backends/redis/redis-shard-router';
import { RedisShardedBackend } from '../lib/backends/redis/redis-sharded.backend';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { TIMED_OUT, within } from '../lib/utils/within';
import { normalizeAddOptions } from '../lib/validation/job-input.validator';
import { Deferred, eventually } from './support/deferred';
import { RedisClusterHandle, startRedisCluster } from './support/redis-cluster';
import { silentLogger } from './support/backend-collectors';

/**
 * What is specific to a sharded queue (option `shards`) on the 3-master test cluster; the contract
 * and conformance suites run on one too (contract-redis-sharded, conformance-redis-sharded).
 */
let cluster: RedisClusterHandle;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

let queues = 0;
const open: RedisShardedBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((backend) => backend.close()));
});

async function shardedBackend(
  pin: string[] = [],
  prefix = `${cluster.prefix}-${++queues}`,
): Promise<RedisShardedBackend> {
  const backend = new RedisShardedBackend(
    resolveJobQueueOptions({ redis: cluster.client, prefix, shards: { count: 3, pin } }),
    silentLogger,
  );
  open.push(backend);
  await backend.start();
  return backend;
}

function spec(name: string, data: unknown = null, jobId?: string): NewJob {
  const opts = normalizeAddOptions(jobId === undefined ? {} : { jobId });
  return { id: jobId ?? randomUUID(), name, dataJson: JSON.stringify(data), opts, createdAt: Date.now() };
}

/** Job ids that land on `shard` (by the router's hash), with `tag` in front. */
function idsOn(backend: RedisShardedBackend, shard: number, count: number, tag = 'id'): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++)
    if (backend.router.candidates(`${tag}-${i}`)[0] === shard) ids.push(`${tag}-${i}`);
  return ids;
}

/**
 * Claims as the worker loop does (claim, then wait while nothing is claimable) until `count` jobs of
 * `name` were claimed: a shard whose marker is still on its way when a claim runs is claimed from once
 * it arrived. Each wait is bounded below the 5 s BLPOP cap, so only a wake-up can make this pass.
 */
async function claimAsWorker(backend: RedisShardedBackend, name: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const batch = await backend.claim([{ name, max: 100 }], 30_000);
    ids.push(...batch.jobs.map((claimed) => claimed.job.id));
    if (ids.length >= count) return ids;
    if ((await within(backend.waitForWork([name], Date.now() + 60_000), 4_000)) === TIMED_OUT) return ids;
  }
}

const masterOfShard = (backend: RedisShardedBackend, shard: number) =>
  cluster.masterPortOf(backend.parts[shard].keys.base);

describe('a queue over 3 shards on a 3-master cluster', () => {
  it('puts its shards on the 3 masters and its jobs on all of them, each job on the shard its id hashes to', async () => {
    const backend = await shardedBackend();
    expect(new Set([0, 1, 2].map((shard) => masterOfShard(backend, shard))).size).toBe(3);
    const jobs = await backend.add(Array.from({ length: 30 }, (_, i) => spec('spread', i)));
    const perShard = await Promise.all(backend.parts.map((part) => part.counts()));
    expect(perShard.every((counts) => counts.waiting > 0)).toBe(true);
    for (const job of jobs) {
      const shard = backend.router.candidates(job.id)[0];
      expect(await cluster.client.hget(backend.parts[shard].keys.job(job.id), 'state')).toBe('waiting');
    }
    // The queue as a whole: counts summed, every job claimed once whatever its shard.
    expect(await backend.counts()).toMatchObject({ waiting: 30 });
    const claimed = (await backend.claim([{ name: 'spread', max: 100 }], 30_000)).jobs;
    expect(claimed.map((c) => c.job.data).sort((a, b) => Number(a) - Number(b))).toEqual(jobs.map((_, i) => i));
  });

  it('routes get, cancel, events, retry and remove by id on every shard; a pinned name with a given id through the pinned shard', async () => {
    const backend = await shardedBackend(['pinned']);
    // One job per shard, and a pinned job whose id hashes elsewhere (so it is looked up on two shards).
    const [pinnedId] = idsOn(backend, 2, 1, 'pinned');
    const ids = [0, 1, 2].map((shard) => idsOn(backend, shard, 1, 'routed')[0]);
    await backend.add([...ids.map((id) => spec('routed', id, id)), spec('pinned', 'p', pinnedId)]);
    expect(await cluster.client.exists(backend.parts[PIN_SHARD].keys.job(pinnedId))).toBe(1);
    expect(await cluster.client.exists(backend.parts[2].keys.job(pinnedId))).toBe(0);

    for (const id of [...ids, pinnedId]) {
      expect(await backend.get(id)).toMatchObject({ id, state: 'waiting' });
      const events: JobEvent[] = [];
      const ended = new Deferred<void>();
      const off = backend.subscribe(id, '0', {
        next: (batch) => {
          events.push(...batch);
          if (batch.some((e) => e.type === 'cancelled')) ended.resolve();
        },
        error: (err) => ended.reject(err),
      });
      expect(await backend.cancel(id, 'routed', 'test')).toBe('cancelled');
      await ended.promise;
      off();
      expect(events.map((e) => e.type)).toEqual(['queued', 'cancelled']);
      expect(await backend.retry(id, 0)).toBe('retried');
      expect((await backend.readEvents(id, '0', 10))!.map((e) => e.type)).toEqual(['queued', 'cancelled', 'queued']);
      expect(await backend.remove(id)).toBe('removed');
      expect(await backend.get(id)).toBeNull();
    }
    expect(await backend.cancel('unknown', 'x', 'test')).toBe('not_found');
    expect(await backend.counts()).toMatchObject({ waiting: 0, cancelled: 0 });
    // Ids the queue generates for a pinned name hash to the pinned shard: one lookup, like any job's.
    const generated = Array.from({ length: 30 }, () => backend.newJobId('pinned'));
    expect(generated.map((id) => backend.router.candidates(id))).toEqual(generated.map(() => [PIN_SHARD]));
    expect(
      new Set(Array.from({ length: 30 }, () => backend.router.candidates(backend.newJobId('routed'))[0])).size,
    ).toBe(3);
  });

  it('keeps a pinned name on one shard, so its rate limit holds across processes exactly', async () => {
    const prefix = `${cluster.prefix}-${++queues}`;
    const [one, two] = [await shardedBackend(['mail'], prefix), await shardedBackend(['mail'], prefix)];
    const jobs = await one.add(Array.from({ length: 12 }, (_, i) => spec('mail', i)));
    for (const job of jobs) expect(await cluster.client.exists(one.parts[PIN_SHARD].keys.job(job.id))).toBe(1);
    const rateLimit = { max: 5, perMs: 60_000 };
    // Both "processes" claim at once, again and again: the window admits 5 starts in all.
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? one : two).claim([{ name: 'mail', max: 4, rateLimit }], 30_000)),
    );
    expect(claims.flatMap((batch) => batch.jobs)).toHaveLength(5);
    expect(await one.counts()).toMatchObject({ waiting: 7, active: 5 });
  });

  it('pages a list across the shards (shard after shard) without repeats or gaps, and ends it with no cursor', async () => {
    const backend = await shardedBackend();
    const added = await backend.add(Array.from({ length: 25 }, (_, i) => spec('listed', i)));
    for (const limit of [1, 4, 7, 25, 1000]) {
      const seen: string[] = [];
      let after;
      let pages = 0;
      do {
        const page = await backend.list({ state: 'waiting', limit, after });
        expect(page.jobs.length).toBeLessThanOrEqual(limit);
        seen.push(...page.jobs.map((job) => job.id));
        after = page.next;
        pages++;
      } while (after);
      expect(seen.sort()).toEqual(added.map((job) => job.id).sort());
      expect(pages).toBe(Math.ceil(25 / limit));
    }
    // Per shard: its jobs in run order (FIFO here); the shards one after the other.
    const order = (await backend.list({ state: 'waiting', limit: 25 })).jobs.map(
      (job) => backend.router.candidates(job.id)[0],
    );
    expect(order).toEqual([...order].sort());
  });

  it('pauses and resumes on every shard; a blocked waiter wakes on resume, and jobs of every shard run again', async () => {
    const backend = await shardedBackend();
    const jobs = await backend.add(Array.from({ length: 12 }, (_, i) => spec('held', i)));
    await backend.pause(QUEUE_LEVEL);
    for (const part of backend.parts) expect(await part.paused()).toEqual([QUEUE_LEVEL]);
    expect(await backend.paused()).toEqual([QUEUE_LEVEL]);
    expect((await backend.claim([{ name: 'held', max: 100 }], 30_000)).jobs).toEqual([]);
    const wait = backend.waitForWork(['held'], Date.now() + 60_000);
    await backend.resume(QUEUE_LEVEL);
    expect(await within(wait, 4_000)).not.toBe(TIMED_OUT);
    expect((await claimAsWorker(backend, 'held', jobs.length)).sort()).toEqual(jobs.map((job) => job.id).sort());
  });

  it('wakes an idle waiter for a job added to any shard, and claims it there in one call', async () => {
    const backend = await shardedBackend();
    expect((await backend.claim([{ name: 'idle', max: 4 }], 30_000)).jobs).toEqual([]);
    for (const shard of [2, 0, 1]) {
      const wait = backend.waitForWork(['idle'], Date.now() + 60_000);
      const [id] = idsOn(backend, shard, 1, `idle-${shard}`);
      await backend.add([spec('idle', shard, id)]);
      expect(await within(wait, 4_000)).not.toBe(TIMED_OUT);
      const claimSpy = backend.parts.map((part) => jest.spyOn(part, 'claimNow'));
      const batch = await backend.claim([{ name: 'idle', max: 4 }], 30_000);
      expect(batch.jobs.map((c) => c.job.id)).toEqual([id]);
      // Only the shard that signalled was asked; the others are drained and watched by their BLPOPs.
      expect(claimSpy.map((spy) => spy.mock.calls.length)).toEqual([0, 1, 2].map((s) => (s === shard ? 1 : 0)));
      claimSpy.forEach((spy) => spy.mockRestore());
    }
  });

  it('starts its claims at one shard for ROTATION_MS, so completions travel with claims, then moves to the next', async () => {
    const backend = await shardedBackend();
    for (const shard of [0, 1, 2])
      await backend.add(idsOn(backend, shard, 6, `rot-${shard}`).map((id) => spec('rot', 0, id)));
    const claimSpy = backend.parts.map((part) => jest.spyOn(part, 'claimNow'));
    const firstShards = async () => {
      const before = claimSpy.map((spy) => spy.mock.calls.length);
      const batch = await backend.claim([{ name: 'rot', max: 2 }], 30_000);
      expect(batch.jobs).toHaveLength(2);
      return claimSpy.findIndex((spy, shard) => spy.mock.calls.length > before[shard]);
    };
    let now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      const start = await firstShards();
      // Within a period every claim starts (and, with a backlog there, ends) at the same shard...
      expect([await firstShards(), await firstShards()]).toEqual([start, start]);
      // ...and each period moves on to the next one, so every shard's backlog is taken in turn.
      const later: number[] = [];
      for (let i = 1; i <= 2; i++) {
        now += ROTATION_MS;
        later.push(await firstShards());
      }
      expect(later).toEqual([(start + 1) % 3, (start + 2) % 3]);
    } finally {
      clock.mockRestore();
      claimSpy.forEach((spy) => spy.mockRestore());
    }
  });

  it('hands a wake marker it took for a name it has no free slot for back, so another process wakes', async () => {
    const prefix = `${cluster.prefix}-${++queues}`;
    const [busy, idle] = [await shardedBackend([], prefix), await shardedBackend([], prefix)];
    const [id] = idsOn(busy, 1, 1, 'handed');
    const master = cluster.client.nodes('master').find((node) => node.options.port === masterOfShard(busy, 1))!;
    const blockedThere = async () =>
      String(await master.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes('name=job-queue:blocking') && /\bflags=\w*b/.test(line)).length;
    // `busy` waits for both names (its BLPOPs stay armed after the wait), then has no free slot for 'x'.
    expect(
      (
        await busy.claim(
          [
            { name: 'x', max: 1 },
            { name: 'y', max: 1 },
          ],
          30_000,
        )
      ).jobs,
    ).toEqual([]);
    const first = busy.waitForWork(['x', 'y'], Date.now() + 60_000);
    await eventually(async () => (await blockedThere()) === 1);
    busy.interruptWait();
    await first;
    await busy.claim([{ name: 'y', max: 1 }], 30_000);
    // `idle` blocks too, behind `busy` in the server's queue of clients blocked on the wake list.
    const woke = idle.waitForWork(['x'], Date.now() + 60_000);
    await eventually(async () => (await blockedThere()) === 2);
    await idle.add([spec('x', null, id)]);
    // `busy`'s BLPOP takes the marker first and pushes it back; `idle`'s takes it then (not its 5 s timeout).
    expect(await within(woke, 4_000)).not.toBe(TIMED_OUT);
    expect((await idle.claim([{ name: 'x', max: 1 }], 30_000)).jobs.map((c: ClaimedJob) => c.job.id)).toEqual([id]);
  });
});

@Injectable()
class ShardWorkers {
  readonly done = new Map<string, Deferred<void>>();

  @JobHandler('work', { concurrency: 8 })
  async work(job: Job) {
    this.deferred(job.id).resolve();
    return job.data;
  }

  deferred(id: string): Deferred<void> {
    let d = this.done.get(id);
    if (!d) this.done.set(id, (d = new Deferred<void>()));
    return d;
  }
}

describe('a worker process on a 3-shard queue', () => {
  it('runs the jobs of every shard, with a connection budget of one command client plus 3 connections per shard', async () => {
    const prefix = `${cluster.prefix}-${++queues}`;
    // Our own client name, so the count ignores the connections of suites running meanwhile.
    const client = new Cluster(cluster.seeds, { redisOptions: { connectionName: prefix } });
    const moduleRef = await Test.createTestingModule({
      imports: [JobQueueModule.forRoot({ redis: client, prefix, shards: 3 })],
      providers: [ShardWorkers],
    }).compile();
    await moduleRef.init();
    try {
      const jobs = moduleRef.get(JobQueueService);
      const workers = moduleRef.get(ShardWorkers);
      const added = await jobs.addBulk(Array.from({ length: 60 }, (_, i) => ({ name: 'work', data: i })));
      await Promise.all(added.map((job) => workers.deferred(job.id).promise));
      for (const job of added)
        expect(await jobs.waitFor(job.id)).toMatchObject({ state: 'completed', result: job.data });
      // A stream on each shard opens its reader (the cancel listener and the worker the other two roles).
      const router = new RedisShardRouter(prefix, { count: 3, pin: [] });
      const streamed = [0, 1, 2].map((shard) => {
        for (let i = 0; ; i++) if (router.candidates(`streamed-${i}`)[0] === shard) return `streamed-${i}`;
      });
      await jobs.addBulk(streamed.map((jobId) => ({ name: 'unhandled', data: null, opts: { jobId } })));
      const subscriptions = streamed.map((id) => jobs.events(id).subscribe());
      const shardMasters = router.prefixes.map((shardPrefix) => cluster.masterPortOf(`{${shardPrefix}}`));
      const roles = () => rolesByMaster(prefix);
      await eventually(async () => {
        const byMaster = await roles();
        return shardMasters.every((port) =>
          ['blocking', 'reader', 'subscriber'].every((role) => byMaster.get(port)?.includes(role)),
        );
      });
      for (const [port, names] of await roles()) {
        // Each master: its shard's three roles once, and the Cluster client's command connection at most once.
        expect([port, names.filter((role) => role !== 'command').sort()]).toEqual([
          port,
          ['blocking', 'reader', 'subscriber'],
        ]);
        expect(names.filter((role) => role === 'command').length).toBeLessThanOrEqual(1);
      }
      subscriptions.forEach((subscription) => subscription.unsubscribe());
    } finally {
      await moduleRef.close();
      client.disconnect();
    }
  });
});

/** The roles of the connections named `<name>:<role>` on each master, by port. */
async function rolesByMaster(name: string): Promise<Map<number, string[]>> {
  const lists = await Promise.all(
    cluster.client
      .nodes('master')
      .map(async (node) => ({ port: node.options.port!, list: String(await node.call('CLIENT', 'LIST')) })),
  );
  const named = new RegExp(`name=${name}:(\\w+)`, 'g'); // prefixes here are letters, digits and '-'
  return new Map(lists.map(({ port, list }) => [port, [...list.matchAll(named)].map((m) => m[1])]));
}
