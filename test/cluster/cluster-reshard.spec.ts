import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type Redis from 'ioredis';
import type { Job, JobEvent } from '../../lib';
import { hashSlot } from '../../lib/backends/redis/redis-keys';
import { loadFunctionLibrary } from '../../lib/backends/redis/redis-scripts';
import { RedisShardRouter } from '../../lib/backends/redis/redis-shard-router';
import { QueueApp, createQueueApp } from '../contract/queue-app';
import { Deferred, eventually } from '../support/deferred';
import { RedisClusterHandle, startRedisCluster } from '../support/redis-cluster';

/**
 * Moves the queue's slot (or one shard's) to another master (CLUSTER SETSLOT IMPORTING/MIGRATING,
 * MIGRATE of every key, SETSLOT NODE) while jobs are added and worked, and an event stream is open.
 */
let cluster: RedisClusterHandle;
let app: QueueApp | undefined;
let sharded: QueueApp | undefined;
beforeAll(async () => {
  cluster = await startRedisCluster({ faults: true });
});
afterAll(async () => {
  await app?.close();
  await sharded?.close();
  await cluster?.stop();
});

const BATCHES = 20;
const PER_BATCH = 20;

it('waits out a migration of the queue slot, then follows it: nothing lost or run twice, pickup, events and cancels on the new master', async () => {
  const prefix = `${cluster.prefix}-reshard`;
  app = await createQueueApp(() => ({ redis: cluster.client, prefix }));
  const { jobs, probe } = app;
  const queueKey = `{${prefix}}`;
  const slot = hashSlot(queueKey);
  const source = masterOf(queueKey);
  const target = cluster.client.nodes('master').find((node) => node.options.port !== source.options.port)!;

  // A job that stays running across the move, with its event stream open.
  const [gated] = await jobs.addBulk([{ name: 'gated', data: {} }]);
  await probe.started.get(gated.id).promise;
  const events: JobEvent[] = [];
  const cancelled = new Deferred<void>();
  const stream = jobs.events(gated.id).subscribe({
    next: (event) => {
      events.push(event);
      if (event.type === 'cancelled') cancelled.resolve();
    },
    error: (err) => cancelled.reject(err),
  });

  // Jobs flow while the slot moves: batches are added (and worked) before, during and after.
  const ids: string[] = [];
  const adding = (async () => {
    for (let i = 0; i < BATCHES; i++) {
      const added = await jobs.addBulk(Array.from({ length: PER_BATCH }, (_, j) => ({ name: 'echo', data: { i, j } })));
      ids.push(...added.map((job) => job.id));
    }
  })();
  await eventually(() => ids.length >= PER_BATCH * 3);
  // A delayed job, cancelled while the slot is split.
  const [parked] = await jobs.addBulk([{ name: 'echo', data: 'parked', opts: { delayMs: 60_000 } }]);
  const claimErrors = jest.spyOn(Logger.prototype, 'error');
  let splitAdd: Promise<Job[]> | undefined;
  let splitCancel: Promise<string> | undefined;
  await migrateSlot(slot, source, target, async () => {
    // The slot is split the worst way for a queue: its lists and sets already on the new master, its
    // jobs' records still on the old one. A script that ran now on either master would see half a
    // queue (a waiting entry without its record); every script call declares the queue's migration
    // guard, so both masters refuse them (TRYAGAIN) and adds and claims wait until the move is over.
    const refused = await tryAgainReplies(source, target);
    splitAdd = jobs.addBulk(Array.from({ length: PER_BATCH }, (_, j) => ({ name: 'echo', data: { split: j } })));
    splitCancel = jobs.cancel(parked.id, 'during-split');
    await eventually(async () => (await tryAgainReplies(source, target)) > refused);
    // The fault lasts longer than ioredis' own TRYAGAIN retries (16 tries 100 ms apart, about 1.6 s):
    // past them the queue's calls wait on (up to MIGRATION_RETRY_MS more) instead of failing.
    await sleep(2_000);
  });
  ids.push(...(await splitAdd!).map((job) => job.id));
  expect(await splitCancel!).toBe('cancelled');
  expect((await jobs.get(parked.id))?.cancelReason).toBe('during-split');
  await adding;
  expect(masterOf(queueKey).options.port).toBe(target.options.port);

  // Everything added completes, once each; the worker's claims waited the move out (no claim failed).
  await eventually(async () => (await jobs.counts()).completed === (BATCHES + 1) * PER_BATCH, 30_000);
  for (const id of ids) expect(probe.runs.get(id)).toBe(1);
  expect(claimErrors.mock.calls.filter(([message]) => /Claiming jobs failed/.test(String(message)))).toEqual([]);
  // The slot leaving the old master ended the pub/sub connections' subscriptions there (an unsolicited
  // SUNSUBSCRIBE each): they move to the new master, and no connection failure is reported for it.
  expect(claimErrors.mock.calls.filter(([message]) => /Redis connection failed/.test(String(message)))).toEqual([]);
  claimErrors.mockRestore();

  // Pickup from the new master: a job added now is claimed (its wake marker is pushed there), by
  // the function library every master got at start (FCALL, not EVALSHA).
  const fcalls = async () => Number(/cmdstat_fcall:calls=(\d+)/.exec(await target.info('commandstats'))?.[1] ?? 0);
  const library = loadFunctionLibrary().name;
  expect(JSON.stringify(await target.call('FUNCTION', 'LIST', 'LIBRARYNAME', library))).toContain(library);
  const fcallsBefore = await fcalls();
  const [late] = await jobs.addBulk([{ name: 'echo', data: 'late' }]);
  await eventually(async () => (await jobs.get(late.id))?.state === 'completed', 10_000);
  expect(await fcalls()).toBeGreaterThanOrEqual(fcallsBefore + 3);

  // The running job's stream is live on the new master, and its cancel is heard by the worker.
  await ctxEmit(gated.id);
  expect(await jobs.cancel(gated.id, 'after-reshard')).toBe('cancelling');
  await probe.aborted.get(gated.id).promise;
  await cancelled.promise;
  stream.unsubscribe();
  expect(events.map((e) => e.type)).toEqual(['queued', 'active', 'token', 'cancelled']);
  // Health: both slot-owner connections end up on the new master.
  await eventually(async () => {
    const states = await app!.backend.connectionStates();
    return states.pickup === 'up' && states.events === 'up';
  });

  async function ctxEmit(jobId: string): Promise<void> {
    const ctx = await probe.started.get(jobId).promise;
    await ctx.emit('token', { after: 'reshard' });
  }
}, 60_000);

it("keeps the other shards of a sharded queue working while one shard's slot migrates, and waits that one out", async () => {
  const prefix = `${cluster.prefix}-sharded`;
  const shards = { count: 3, pin: ['throttled', 'capped'] };
  sharded = await createQueueApp(() => ({ redis: cluster.client, prefix, shards }));
  const { jobs, probe } = sharded;
  const router = new RedisShardRouter(prefix, shards);
  const idsOn = (shard: number, tag: string, count: number) => {
    const ids: string[] = [];
    for (let i = 0; ids.length < count; i++) if (router.candidates(`${tag}-${i}`)[0] === shard) ids.push(`${tag}-${i}`);
    return ids;
  };
  const add = (ids: string[]) => jobs.addBulk(ids.map((jobId) => ({ name: 'echo', data: jobId, opts: { jobId } })));
  const completed = (ids: string[]) => Promise.all(ids.map((id) => jobs.waitFor(id, { timeoutMs: 20_000 })));
  // Every shard works before the move.
  await completed((await add([0, 1, 2].flatMap((shard) => idsOn(shard, `before${shard}`, 5)))).map((job) => job.id));

  const moving = `{${router.prefixes[1]}}`;
  const source = masterOf(moving);
  const target = cluster.client.nodes('master').find((node) => node.options.port !== source.options.port)!;
  let waitingOut: Promise<Job[]> | undefined;
  const mine = idsOn(1, 'split1', 10);
  const errors = jest.spyOn(Logger.prototype, 'error');
  const notes = jest.spyOn(Logger.prototype, 'log');
  await migrateSlot(hashSlot(moving), source, target, async () => {
    // While shard 1 is split between two masters, jobs of the other shards are added and run...
    const refused = await tryAgainReplies(source, target);
    waitingOut = add(mine);
    const others = [0, 2].flatMap((shard) => idsOn(shard, `split${shard}`, 10));
    await add(others);
    await completed(others);
    // ...and shard 1's adds and claims are refused (and wait), not run on half a shard.
    await eventually(async () => (await tryAgainReplies(source, target)) > refused);
  });
  await waitingOut;
  await completed(mine);
  expect(masterOf(moving).options.port).toBe(target.options.port);
  for (const id of [...mine, ...idsOn(0, 'split0', 10)]) expect(probe.runs.get(id)).toBe(1);
  // No claim of any shard failed; a move that outlasts ioredis' own retries is noted once, as information.
  expect(errors.mock.calls.filter(([message]) => /Claiming jobs/.test(String(message)))).toEqual([]);
  expect(
    notes.mock.calls.filter(([message]) => /Shard \S+ is moving/.test(String(message))).length,
  ).toBeLessThanOrEqual(1);
  errors.mockRestore();
  notes.mockRestore();
  // Pickup on the moved shard, from its new master.
  await completed((await add(idsOn(1, 'after1', 3))).map((job) => job.id));
}, 60_000);

function masterOf(key: string): Redis {
  const port = cluster.masterPortOf(key);
  return cluster.client.nodes('master').find((node) => node.options.port === port)!;
}

/** TRYAGAIN replies the two masters sent so far (INFO errorstats). */
async function tryAgainReplies(...nodes: Redis[]): Promise<number> {
  const counts = await Promise.all(
    nodes.map(async (node) => Number(/errorstat_TRYAGAIN:count=(\d+)/.exec(await node.info('errorstats'))?.[1] ?? 0)),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}

/**
 * The steps of `redis-cli --cluster reshard` for one slot, done by hand so the slot is ours to pick:
 * the queue's own keys move first, the jobs' records and streams last, with `split` run in between.
 */
async function migrateSlot(slot: number, source: Redis, target: Redis, split: () => Promise<void>): Promise<void> {
  const sourceId = String(await source.call('CLUSTER', 'MYID'));
  const targetId = String(await target.call('CLUSTER', 'MYID'));
  await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
  await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
  const move = (keys: string[]) =>
    source.call('MIGRATE', target.options.host!, target.options.port!, '', 0, 5_000, 'REPLACE', 'KEYS', ...keys);
  const all = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 100_000)) as string[];
  const queueKeys = all.filter((key) => !/:(job|events):/.test(key));
  for (let i = 0; i < queueKeys.length; i += 50) await move(queueKeys.slice(i, i + 50));
  await split();
  for (;;) {
    const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 50)) as string[];
    if (keys.length === 0) break;
    await move(keys);
  }
  await target.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
  await source.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
  for (const node of cluster.client.nodes('master')) {
    if (node !== source && node !== target)
      await node.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId).catch(() => undefined);
  }
}
