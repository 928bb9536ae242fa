import { spawnSync } from 'node:child_process';
import { freePort } from '../test/support/local-port';
import { sleep } from './clock';
import { BenchRedis, spawnRedisServer } from './redis-server';

/** A private Redis Cluster of masters only (no replicas: they would take CPU the bench measures). */
export interface BenchCluster {
  readonly seeds: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;

/** `masters` cluster-mode servers on free loopback ports, joined with `redis-cli --cluster create` (slots split evenly). */
export async function startRedisCluster(masters: number): Promise<BenchCluster> {
  const ports: number[] = [];
  while (ports.length < masters) {
    const port = await freePort();
    // The cluster bus listens on port + 10000: both must be free.
    if (port + 10_000 < 65_536 && !ports.includes(port)) ports.push(port);
  }
  const servers: BenchRedis[] = [];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    for (const port of ports)
      servers.push(
        await spawnRedisServer(port, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-announce-ip',
          '127.0.0.1',
        ]),
      );
    // `--cluster create` wants 3 masters at least; one takes every slot by itself.
    const created =
      masters === 1
        ? spawnSync('redis-cli', ['-p', String(ports[0]), 'CLUSTER', 'ADDSLOTSRANGE', '0', '16383'], {
            encoding: 'utf8',
          })
        : spawnSync(
            'redis-cli',
            [
              '--cluster',
              'create',
              ...ports.map((port) => `127.0.0.1:${port}`),
              '--cluster-replicas',
              '0',
              '--cluster-yes',
            ],
            { encoding: 'utf8', timeout: READY_TIMEOUT_MS },
          );
    if (created.status !== 0 || /ERR/.test(created.stdout))
      throw new Error(`creating the bench cluster failed: ${created.stdout}\n${created.stderr}`);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!ports.every((port) => /cluster_state:ok/.test(cli(port, 'CLUSTER', 'INFO')))) {
      if (Date.now() > deadline) throw new Error(`the bench cluster on ${ports.join(', ')} did not become ok`);
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { seeds: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
}

function cli(port: number, ...args: string[]): string {
  return (
    spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5_000 })
      .stdout ?? ''
  );
}
