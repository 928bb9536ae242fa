import { RedisBackend } from '../lib/backends/redis/redis.backend';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { normalizeAddOptions } from '../lib/validation/job-input.validator';
import type { JobEvent } from '../lib';
import { describeJobQueueContract } from './contract/job-queue.contract';
import { Deferred, eventually } from './support/deferred';
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
const freshPrefix = () => `${cluster.prefix}-${++apps}`;
describeJobQueueContract('redis cluster', () => ({ redis: cluster.client, prefix: freshPrefix() }));

describe('RedisBackend on a Redis Cluster', () => {
  it('reconnects its plain node connections (event reader, blocking waiter) after they drop', async () => {
    const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
    const backend = new RedisBackend(resolveJobQueueOptions({ redis: cluster.client, prefix: freshPrefix() }), logger);
    await backend.start();
    try {
      const newJob = (name: string) => ({
        id: `${name}-${++apps}`,
        name,
        dataJson: '{}',
        opts: normalizeAddOptions({}),
        createdAt: Date.now(),
      });
      const [job] = await backend.add([newJob('drop')]);
      const events: JobEvent[] = [];
      const arrived = new Map<number, Deferred<void>>([
        [1, new Deferred()],
        [2, new Deferred()],
      ]);
      backend.subscribe(job.id, '0', {
        next: (batch) => {
          events.push(...batch);
          arrived.get(events.length)?.resolve();
        },
        error: (err) => arrived.get(2)?.reject(err),
      });
      await arrived.get(1)!.promise;
      const idle = backend.waitForWork(['drop-next'], Date.now() + 60_000);

      // Cut both plain node connections (the Cluster's own clients reconnect by themselves), once
      // the blocking one is open too (it is created by the wait, asynchronously).
      // They live on the master of the queue's slot: look on every master.
      const found = await eventually(async () => {
        const lists = await Promise.all(
          cluster.client
            .nodes('master')
            .map(async (node) => ({ node, list: String(await node.call('CLIENT', 'LIST')) })),
        );
        const conns = lists.flatMap(({ node, list }) =>
          list
            .split('\n')
            .filter((line) => /name=job-queue:(reader|blocking)\b/.test(line))
            .map((line) => ({ node, id: /\bid=(\d+)/.exec(line)![1] })),
        );
        return conns.length === 2 && conns;
      });
      for (const { node, id } of found || []) await node.call('CLIENT', 'KILL', 'ID', id);

      // The waiter comes back (and wakes on an add); the reader resubscribes and delivers again.
      await idle;
      const wake = backend.waitForWork(['drop-next'], Date.now() + 60_000);
      await backend.add([newJob('drop-next')]);
      await wake;
      expect(await backend.cancel(job.id, 'after-drop', 'test')).toBe('cancelled');
      await arrived.get(2)!.promise;
      expect(events.map((e) => e.type)).toEqual(['queued', 'cancelled']);
    } finally {
      await backend.close();
    }
  });

  it('keeps job events and cancels on the shard of the queue (SSUBSCRIBE on its master), within the connection budget', async () => {
    const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
    const prefix = freshPrefix();
    const backend = new RedisBackend(resolveJobQueueOptions({ redis: cluster.client, prefix }), logger);
    await backend.start();
    try {
      const [job] = await backend.add([
        { id: `shard-${++apps}`, name: 'shard', dataJson: '{}', opts: normalizeAddOptions({}), createdAt: Date.now() },
      ]);
      const queued = new Deferred<void>();
      const unsubscribe = backend.subscribe(job.id, '0', {
        next: () => queued.resolve(),
        error: (err) => queued.reject(err),
      });
      const offCancel = backend.onCancelRequest(() => undefined);
      const wake = backend.waitForWork(['shard-none'], Date.now() + 60_000);
      await queued.promise;
      await eventually(async () => {
        const states = await backend.connectionStates();
        return states.events === 'up' && states.cancels === 'up' && states.pickup === 'up';
      });

      const owner = cluster.masterPortOf(`{${prefix}}`);
      const eventChannel = `{${prefix}}:evc:${job.id}`;
      const cancelChannel = `{${prefix}}:cancel`;
      for (const node of cluster.client.nodes('all')) {
        const port = node.options.port;
        const [, sharded, , shardedCancel] = (await node.call(
          'PUBSUB',
          'SHARDNUMSUB',
          eventChannel,
          cancelChannel,
        )) as Array<string | number>;
        const [, classic] = (await node.call('PUBSUB', 'NUMSUB', eventChannel)) as Array<string | number>;
        // Subscribed on the queue's master only, and never on the classic (cluster-wide) channel.
        expect([port, Number(sharded), Number(shardedCancel), Number(classic)]).toEqual([
          port,
          port === owner ? 1 : 0,
          port === owner ? 1 : 0,
          0,
        ]);
      }

      // Connection budget: the three slot-owner roles once each, on the queue's master; the command
      // connection (a Cluster client) at most once per node.
      const byNode = await Promise.all(
        cluster.client.nodes('all').map(async (node) => ({
          port: node.options.port,
          names: String(await node.call('CLIENT', 'LIST'))
            .split('\n')
            .map((line) => /name=(job-queue:\S+)/.exec(line)?.[1])
            .filter((name): name is string => name !== undefined)
            .sort(),
        })),
      );
      // Our backend's connections only: the suite's other backends are closed by now.
      for (const { port, names } of byNode) {
        const roles = names.filter((name) => name !== 'job-queue:command');
        expect([port, roles]).toEqual([
          port,
          port === owner ? ['job-queue:blocking', 'job-queue:reader', 'job-queue:subscriber'] : [],
        ]);
        expect(names.length - roles.length).toBeLessThanOrEqual(1);
      }
      offCancel();
      unsubscribe();
      backend.interruptWait();
      await wake;
    } finally {
      await backend.close();
    }
  });
});
