import type Redis from 'ioredis';
import type { JobEvent } from '../../lib';
import { hashSlot } from '../../lib/backends/redis/redis-keys';
import { QueueApp, createQueueApp } from '../contract/queue-app';
import { Deferred, eventually } from '../support/deferred';
import { RedisClusterHandle, startRedisCluster } from '../support/redis-cluster';

/**
 * Moves the queue's slot to another master (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE of every
 * key, SETSLOT NODE) while jobs are added and worked, and an event stream is open.
 */
let cluster: RedisClusterHandle;
let app: QueueApp | undefined;
beforeAll(async () => {
  cluster = await startRedisCluster({ faults: true });
});
afterAll(async () => {
  await app?.close();
  await cluster?.stop();
});

const BATCHES = 20;
const PER_BATCH = 20;

it('follows MOVED/ASK while the queue slot migrates: nothing lost, pickup, events and cancels on the new master', async () => {
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
  await migrateSlot(slot, source, target);
  await adding;
  expect(masterOf(queueKey).options.port).toBe(target.options.port);

  // Everything added completes, once each.
  await eventually(async () => (await jobs.counts()).completed === BATCHES * PER_BATCH, 30_000);
  for (const id of ids) expect(probe.runs.get(id)).toBe(1);

  // Pickup from the new master: a job added now is claimed (its wake marker is pushed there).
  const [late] = await jobs.addBulk([{ name: 'echo', data: 'late' }]);
  await eventually(async () => (await jobs.get(late.id))?.state === 'completed', 10_000);

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

function masterOf(key: string): Redis {
  const port = cluster.masterPortOf(key);
  return cluster.client.nodes('master').find((node) => node.options.port === port)!;
}

/** The steps of `redis-cli --cluster reshard` for one slot, done by hand so the slot is ours to pick. */
async function migrateSlot(slot: number, source: Redis, target: Redis): Promise<void> {
  const sourceId = String(await source.call('CLUSTER', 'MYID'));
  const targetId = String(await target.call('CLUSTER', 'MYID'));
  await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
  await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
  for (;;) {
    const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 50)) as string[];
    if (keys.length === 0) break;
    await source.call('MIGRATE', target.options.host!, target.options.port!, '', 0, 5_000, 'REPLACE', 'KEYS', ...keys);
  }
  await target.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
  await source.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
  for (const node of cluster.client.nodes('master')) {
    if (node !== source && node !== target) await node.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId).catch(() => undefined);
  }
}
