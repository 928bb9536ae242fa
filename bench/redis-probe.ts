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
  /** Redis commands per job, incl. those run inside scripts (fcall or evalsha = script calls). */
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
export async function measureCost<T>(
  probe: RedisProbe | undefined,
  jobs: number,
  work: () => Promise<T>,
): Promise<ServerCost<T>> {
  const meter = new CostMeter(probe);
  await meter.started;
  const value = await work();
  return { value, ...(await meter.stop(jobs)) };
}

/**
 * Cost from `new CostMeter()` to `stop()`: for measurements that start inside a callback (the first
 * handler start), where `measureCost` cannot wrap the work. The server snapshot is requested at
 * construction and answered a few µs later, which is noise against thousands of jobs.
 */
export class CostMeter {
  /** Resolves once the server's "before" snapshot is taken. */
  readonly started: Promise<unknown>;
  private readonly processBefore = process.cpuUsage();
  private readonly before: Promise<ServerSnapshot | undefined>;

  constructor(private readonly probe: RedisProbe | undefined) {
    this.before = snapshot(probe);
    this.started = this.before;
  }

  async stop(jobs: number): Promise<Omit<ServerCost<never>, 'value'>> {
    const processUsed = process.cpuUsage(this.processBefore);
    const after = await snapshot(this.probe);
    const before = await this.before;
    const perJob = (total: number) => Math.round((total * 100) / jobs) / 100;
    const cost: Omit<ServerCost<never>, 'value'> = {
      processCpuUsPerJob: perJob(processUsed.user + processUsed.system),
    };
    if (!before || !after) return cost;
    cost.cpuUsPerJob = perJob((after.cpuSeconds - before.cpuSeconds) * 1e6);
    const calls: Record<string, number> = {};
    const usec: Record<string, number> = {};
    // The probe's own INFO/CLIENT calls are not the queue's.
    for (const [name, now] of Object.entries(after.commands)) {
      if (name === 'info' || name.startsWith('client|')) continue;
      const then = before.commands[name] ?? { calls: 0, usec: 0 };
      if (now.calls > then.calls) {
        calls[name] = perJob(now.calls - then.calls);
        usec[name] = perJob(now.usec - then.usec);
      }
    }
    cost.commandsPerJob = calls;
    cost.commandUsPerJob = usec;
    return cost;
  }
}

interface ServerSnapshot {
  cpuSeconds: number;
  commands: Record<string, { calls: number; usec: number }>;
}

async function snapshot(probe: RedisProbe | undefined): Promise<ServerSnapshot | undefined> {
  if (!probe) return undefined;
  const [cpuSeconds, commands] = await Promise.all([probe.cpuSeconds(), probe.commandStats()]);
  return { cpuSeconds, commands };
}
