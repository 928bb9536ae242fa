import Redis from 'ioredis';

/** One admin connection for reading server stats (INFO, CLIENT LIST) and resetting between scenarios. */
export class RedisProbe {
  private readonly client: Redis;

  constructor(host: string, port: number) {
    this.client = new Redis({ host, port, connectionName: 'bench-probe', maxRetriesPerRequest: 2 });
    this.client.on('error', () => undefined);
  }

  /** used_cpu_sys + used_cpu_user of the server, in seconds. */
  async cpuSeconds(): Promise<number> {
    const info = parseInfo(await this.client.info('cpu'));
    return Number(info.used_cpu_sys) + Number(info.used_cpu_user);
  }

  /** Calls and server time (µs) per command (INFO commandstats; commands run inside scripts are counted too). */
  async commandStats(): Promise<Record<string, { calls: number; usec: number }>> {
    const stats: Record<string, { calls: number; usec: number }> = {};
    for (const [key, value] of Object.entries(parseInfo(await this.client.info('commandstats')))) {
      const calls = /calls=(\d+)/.exec(value)?.[1];
      const usec = /usec=(\d+)/.exec(value)?.[1];
      if (key.startsWith('cmdstat_') && calls) stats[key.slice(8)] = { calls: Number(calls), usec: Number(usec ?? 0) };
    }
    return stats;
  }

  async usedMemory(): Promise<number> {
    return Number(parseInfo(await this.client.info('memory')).used_memory);
  }

  async version(): Promise<string> {
    return parseInfo(await this.client.info('server')).redis_version;
  }

  /** Connections per client name (CLIENT LIST), plus the total. */
  async clients(): Promise<{ total: number; byName: Record<string, number> }> {
    const list = (await this.client.client('LIST')) as string;
    const byName: Record<string, number> = {};
    let total = 0;
    for (const line of list.split('\n')) {
      if (!line.trim()) continue;
      total++;
      const name = /(?:^| )name=(\S*)/.exec(line)?.[1] || '(unnamed)';
      byName[name] = (byName[name] ?? 0) + 1;
    }
    return { total, byName };
  }

  async flush(): Promise<void> {
    await this.client.flushall();
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** What `work` cost the server and this process, per job. */
export interface ServerCost<T> {
  value: T;
  /** Redis server CPU (used_cpu_user + used_cpu_sys), µs per job. */
  cpuUsPerJob?: number;
  /** Redis commands per job, incl. those run inside scripts (evalsha = script calls). */
  commandsPerJob?: Record<string, number>;
  /**
   * Redis time per job by command, µs (commandstats usec: a script's time includes the commands it
   * runs, which are listed too). The rest of the server CPU is I/O and the event loop.
   */
  commandUsPerJob?: Record<string, number>;
  /** CPU of this Node process (user + system), µs per job. */
  processCpuUsPerJob: number;
}

/** Measures the Redis CPU, Redis commands and this process's CPU spent while `work` runs. */
export async function measureCost<T>(probe: RedisProbe | undefined, jobs: number, work: () => Promise<T>): Promise<ServerCost<T>> {
  const cpuBefore = await probe?.cpuSeconds();
  const statsBefore = await probe?.commandStats();
  const processBefore = process.cpuUsage();
  const value = await work();
  const processUsed = process.cpuUsage(processBefore);
  const statsAfter = await probe?.commandStats();
  const cpuAfter = await probe?.cpuSeconds();
  const perJob = (total: number) => Math.round((total * 100) / jobs) / 100;
  const cost: ServerCost<T> = { value, processCpuUsPerJob: perJob(processUsed.user + processUsed.system) };
  if (cpuBefore !== undefined && cpuAfter !== undefined) cost.cpuUsPerJob = perJob((cpuAfter - cpuBefore) * 1e6);
  if (statsBefore && statsAfter) {
    const calls: Record<string, number> = {};
    const usec: Record<string, number> = {};
    // The probe's own INFO/CLIENT calls are not the queue's.
    for (const [name, after] of Object.entries(statsAfter)) {
      if (name === 'info' || name.startsWith('client|')) continue;
      const before = statsBefore[name] ?? { calls: 0, usec: 0 };
      if (after.calls > before.calls) {
        calls[name] = perJob(after.calls - before.calls);
        usec[name] = perJob(after.usec - before.usec);
      }
    }
    cost.commandsPerJob = calls;
    cost.commandUsPerJob = usec;
  }
  return cost;
}
