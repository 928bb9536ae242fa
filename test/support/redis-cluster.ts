import { Cluster } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { hashSlot } from '../../lib/backends/redis/redis-keys';
import {
  killClusterNode,
  redisCli,
  restartClusterNode,
  sharedClusterServers,
  waitForClusterOk,
} from './redis-cluster-servers';

/** A Redis Cluster for one test file, and a `Cluster` client of it for the module's `redis` option. */
export interface RedisClusterHandle {
  readonly client: Cluster;
  /** A queue prefix unique to this handle. */
  readonly prefix: string;
  /** Seed nodes, for child processes building their own Cluster client. */
  readonly seeds: Array<{ host: string; port: number }>;
  /** Ports of every node we run (empty with REDIS_CLUSTER_URL: fault injection needs our own cluster). */
  readonly ports: number[];
  /** Time the shared cluster took to start, ms (0 when external). */
  readonly startMs: number;
  /** Port of the master serving `key`'s slot, asked of the cluster (not of the client's cached map). */
  masterPortOf(key: string): number;
  /** SIGKILL of one node. */
  kill(port: number): Promise<void>;
  /** Starts a killed node again and waits until the whole cluster is ok again. */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

/**
 * The run's shared 3-master, 3-replica cluster (see redis-cluster-servers.ts), under a prefix of
 * this handle's own. With env REDIS_CLUSTER_URL (any node of an existing cluster) that one is used,
 * except by suites that kill nodes or move slots (`faults`).
 */
export async function startRedisCluster({ faults = false }: { faults?: boolean } = {}): Promise<RedisClusterHandle> {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const external = process.env.REDIS_CLUSTER_URL;
  if (external && !faults) {
    const { hostname, port } = new URL(external);
    const seeds = [{ host: hostname, port: Number(port || 6379) }];
    return clusterHandle(new Cluster(seeds), prefix, seeds, [], 0);
  }
  const servers = await sharedClusterServers();
  const seeds = servers.ports.map((port) => ({ host: '127.0.0.1', port }));
  return clusterHandle(new Cluster(seeds), prefix, seeds, servers.ports, servers.startMs);
}

async function clusterHandle(
  client: Cluster,
  prefix: string,
  seeds: Array<{ host: string; port: number }>,
  ports: number[],
  startMs: number,
): Promise<RedisClusterHandle> {
  // A Cluster client retries on its own (it never emits 'error' for a slot map it dislikes): bound the wait.
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      timer = setTimeout(
        () => reject(new Error(`The Redis Cluster client did not become ready within ${READY_TIMEOUT_MS} ms.`)),
        READY_TIMEOUT_MS,
      );
    });
  } catch (err) {
    client.disconnect();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const needOwn = () => {
    if (ports.length === 0)
      throw new Error(
        "Fault injection needs the tests' own cluster: start it with startRedisCluster({ faults: true }).",
      );
  };
  return {
    client,
    prefix,
    seeds,
    ports,
    startMs,
    masterPortOf(key) {
      needOwn();
      const slot = hashSlot(key);
      for (const port of ports) {
        const owner = ownerInClusterSlots(redisCli(port, '--json', 'CLUSTER', 'SLOTS'), slot);
        if (owner !== undefined) return owner;
      }
      throw new Error(`No node of the cluster knows the owner of slot ${slot}.`);
    },
    async kill(port) {
      needOwn();
      await killClusterNode(port);
    },
    async restart(port) {
      needOwn();
      await restartClusterNode(port);
      await waitForClusterOk(ports);
    },
    async stop() {
      await deleteKeys(client, prefix);
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** The master port of `slot` in CLUSTER SLOTS output (redis-cli --json), if this node answered. */
function ownerInClusterSlots(json: string, slot: number): number | undefined {
  if (!json.trim()) return undefined;
  const ranges = JSON.parse(json) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
  const range = ranges.find(([from, to]) => from <= slot && slot <= to);
  return range?.[2][1];
}

/** Every suite leaves the shared cluster as it found it (every key of these tests starts with `{<prefix>`). */
async function deleteKeys(client: Cluster, prefix: string): Promise<void> {
  // A node a test killed (and did not restart) is skipped: the ones that serve its slots now are listed too.
  for (const node of client.nodes('master').filter((n) => n.status === 'ready')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `*{${prefix}*`, 'COUNT', 1000);
      // One key at a time: keys of different slots cannot share a command on a Cluster.
      for (const key of keys) await node.unlink(key);
      cursor = next;
    } while (cursor !== '0');
  }
}
