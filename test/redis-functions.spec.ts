import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { NewJob } from '../lib/backends/queue-backend.interface';
import { LOAD_RETRY_MS, loadFunctionLibrary } from '../lib/backends/redis/redis-scripts';
import { RedisBackend } from '../lib/backends/redis/redis.backend';
import type { JobQueueModuleOptions } from '../lib/job-queue.options';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { normalizeAddOptions } from '../lib/validation/job-input.validator';
import { CapturingLogger } from './support/backend-collectors';
import { RedisServerHandle, startRedisServer } from './support/redis-server';

/**
 * The scripts run as one function library (FCALL) where the server has functions, and as scripts
 * (EVALSHA) where it does not or the user may not load them, with the same results either way.
 */
describe('Redis functions (private redis-server)', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let open: RedisBackend[] = [];
  let testNo = 0;
  const library = loadFunctionLibrary();

  beforeAll(async () => {
    // Private: these tests flush the server's functions and add ACL users.
    server = await startRedisServer({ faults: true });
    admin = new Redis(server.url);
  });

  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  afterEach(async () => {
    await Promise.all(open.map((b) => b.close()));
    open = [];
    await admin.call('FUNCTION', 'FLUSH');
  });

  async function backend(options: Partial<JobQueueModuleOptions> = {}): Promise<RedisBackend> {
    const b = new RedisBackend(
      resolveJobQueueOptions({ redis: server.url, prefix: `${server.prefix}-${++testNo}`, ...options }),
      new CapturingLogger(),
    );
    open.push(b);
    await b.start();
    return b;
  }

  function spec(name: string): NewJob {
    return {
      id: randomUUID(),
      name,
      dataJson: '{}',
      opts: normalizeAddOptions(undefined),
      createdAt: Date.now(),
    };
  }

  /** Script calls the server ran so far, by how they were called. */
  async function calls(): Promise<{ fcall: number; evalsha: number; eval: number }> {
    const stats = await admin.info('commandstats');
    const count = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    return { fcall: count('fcall'), evalsha: count('evalsha'), eval: count('eval') };
  }

  /** One job through add, claim and complete: three script calls. */
  async function roundTrip(b: RedisBackend): Promise<void> {
    const [job] = await b.add([spec('fn')]);
    const { jobs } = await b.claim([{ name: 'fn', max: 1 }], 30_000);
    expect(jobs.map((c) => c.job.id)).toEqual([job.id]);
    expect(await b.complete({ jobId: job.id, token: jobs[0].token }, '"ok"')).toBe('completed');
    expect((await b.get(job.id))?.state).toBe('completed');
  }

  async function libraries(): Promise<string[]> {
    const list = (await admin.call('FUNCTION', 'LIST')) as Array<[string, string]>;
    return list.map((entry) => entry[1]);
  }

  it('loads the library once at start and runs every script call through FCALL', async () => {
    const b = await backend();
    await backend(); // a second process on the same server: the library is there already
    expect(await libraries()).toEqual([library.name]);
    const before = await calls();
    await roundTrip(b);
    const after = await calls();
    expect(after.fcall - before.fcall).toBe(3);
    expect(after.evalsha + after.eval).toBe(before.evalsha + before.eval);
  });

  it('loads the library again when the server lost it (FUNCTION FLUSH, a restart), and the call that found it missing succeeds', async () => {
    const b = await backend();
    await admin.call('FUNCTION', 'FLUSH');
    expect(await libraries()).toEqual([]);
    await roundTrip(b);
    expect(await libraries()).toEqual([library.name]);
  });

  it('runs the same scripts with EVALSHA for a user who may not load functions', async () => {
    const user = `jq-nofn-${testNo}`;
    await admin.call('ACL', 'SETUSER', user, 'reset', 'on', '>pw', '~*', '&*', '+@all', '-function');
    try {
      const url = new URL(server.url);
      url.username = user;
      url.password = 'pw';
      const b = await backend({ redis: url.toString() });
      const before = await calls();
      await roundTrip(b);
      const after = await calls();
      expect(await libraries()).toEqual([]);
      expect(after.fcall).toBe(before.fcall);
      expect(after.evalsha + after.eval - before.evalsha - before.eval).toBe(3);
    } finally {
      await Promise.all(open.map((b) => b.close()));
      open = [];
      await admin.call('ACL', 'DELUSER', user);
    }
  });

  it('goes by EVALSHA while the library cannot be loaded for a passing reason, and loads it on a later call', async () => {
    // FUNCTION LOAD is refused while the server is out of memory; reads and connections are not.
    await admin.config('SET', 'maxmemory', '1');
    let b: RedisBackend;
    try {
      b = await backend();
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    await roundTrip(b);
    expect(await libraries()).toEqual([]);
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + LOAD_RETRY_MS);
    try {
      await roundTrip(b); // its first call starts the load; the rest go by FCALL once it is done
    } finally {
      clock.mockRestore();
    }
    expect(await libraries()).toEqual([library.name]);
    const before = await calls();
    await roundTrip(b);
    expect((await calls()).fcall - before.fcall).toBe(3);
  });

  it('runs a call a full server refuses as a function by EVALSHA, so remove() still frees memory', async () => {
    const b = await backend();
    const [job] = await b.add([spec('fn')]);
    await admin.config('SET', 'maxmemory', '1'); // noeviction: FCALL of a function that may write is refused
    try {
      const before = await calls();
      expect(await b.remove(job.id)).toBe('removed');
      const after = await calls();
      expect(after.evalsha + after.eval - before.evalsha - before.eval).toBe(1);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    expect(await b.get(job.id)).toBeNull();
  });
});
