import Redis, { Cluster } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { startPrivateRedisServer } from './redis-server';

/** A Redis Cluster for one test file, and a `Cluster` client of it for the module's `redis` option. */
export interface RedisClusterHandle {
  readonly client: Cluster;
  /** A queue prefix unique to this handle. */
  readonly prefix: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

/**
 * A single-node Redis Cluster on a private `redis-server` (cluster mode, all 16,384 slots on the one
 * master): real MOVED/slot routing, the Cluster client and the single-slot rule for scripts, without
 * the cost of six servers. With env REDIS_CLUSTER_URL (any node of an existing cluster) that one is used.
 */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const external = process.env.REDIS_CLUSTER_URL;
  if (external) {
    const { hostname, port } = new URL(external);
    const client = new Cluster([{ host: hostname, port: Number(port || 6379) }]);
    // Not our cluster: leave nothing behind (every key of these tests starts with `{<prefix>`).
    return clusterHandle(client, prefix, { cleanUp: () => deleteKeys(client, prefix) });
  }
  // announce-ip: a node that never met another reports an empty address in CLUSTER SLOTS, which the
  // ioredis Cluster client skips (it would retry for ever).
  const server = await startPrivateRedisServer(
    ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1'],
    'or set REDIS_CLUSTER_URL to a node of a Redis Cluster the tests may use.',
  );
  const admin = new Redis(server.port, '127.0.0.1');
  try {
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    // The node takes the slots on its next cluster cron tick; there is no event to wait for.
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!/cluster_state:ok/.test(String(await admin.call('CLUSTER', 'INFO')))) {
      if (Date.now() > deadline) throw new Error(`The private Redis Cluster on port ${server.port} did not become ready within ${READY_TIMEOUT_MS} ms.`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    admin.disconnect();
  }
  const client = new Cluster([{ host: '127.0.0.1', port: server.port }]);
  return clusterHandle(client, prefix, { stopServer: () => server.stop() });
}

/** `cleanUp` runs on the client before it quits (external cluster); `stopServer` after (private one). */
async function clusterHandle(
  client: Cluster,
  prefix: string,
  { cleanUp, stopServer }: { cleanUp?: () => Promise<void>; stopServer?: () => Promise<void> },
): Promise<RedisClusterHandle> {
  // A Cluster client retries on its own (it never emits 'error' for a slot map it dislikes): bound the wait.
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      timer = setTimeout(() => reject(new Error(`The Redis Cluster client did not become ready within ${READY_TIMEOUT_MS} ms.`)), READY_TIMEOUT_MS);
    });
  } catch (err) {
    client.disconnect();
    await stopServer?.();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    client,
    prefix,
    async stop() {
      await cleanUp?.();
      await client.quit().catch(() => client.disconnect());
      await stopServer?.();
    },
  };
}

async function deleteKeys(client: Cluster, prefix: string): Promise<void> {
  for (const node of client.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `*{${prefix}*`, 'COUNT', 1000);
      // One key at a time: keys of different slots cannot share a command on a Cluster.
      for (const key of keys) await node.unlink(key);
      cursor = next;
    } while (cursor !== '0');
  }
}
