import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { AddressInfo, createServer } from 'node:net';
import type { ClaimedJob, NewJob } from '../lib/backends/queue-backend.interface';
import type { RedisConnections } from '../lib/backends/redis/redis-connections';
import { RedisBackend } from '../lib/backends/redis/redis.backend';
import { JobQueueError, QueueFullError } from '../lib/errors/job-queue.errors';
import type { AddOptions } from '../lib/interfaces/job.interface';
import type { JobQueueModuleOptions } from '../lib/job-queue.options';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { normalizeAddOptions } from '../lib/validation/job-input.validator';
import { Deferred, DeferredMap, eventually } from './support/deferred';
import { RedisServerHandle, startRedisServer } from './support/redis-server';
import { usesShardedPubSub } from './support/redis-pubsub';
import { CapturingLogger, EventCollector } from './support/backend-collectors';

// First in the file: ioredis keeps a 2 s socket timer after cutting a refused connection, which
// the rest of this file outlasts (so Jest does not report it as an open handle).
describe('RedisBackend on an unreachable Redis', () => {
  it('fails start() with a JobQueueError that says what to do', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const logger = new CapturingLogger();
    // ioredis options (not a URL) here, to fail after one retry instead of twenty.
    const backend = new RedisBackend(
      resolveJobQueueOptions({ redis: { host: '127.0.0.1', port, maxRetriesPerRequest: 1 } }),
      logger,
    );
    const started = backend.start();
    await expect(started).rejects.toBeInstanceOf(JobQueueError);
    await expect(started).rejects.toThrow(
      /Could not reach Redis while starting the job queue .*start Redis, or fix option 'redis'/,
    );
    expect(logger.count(/connection failed/)).toBe(1);
  });
});

describe('RedisBackend (private redis-server)', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let sharded = false;
  let prefix: string;
  let logger: CapturingLogger;
  let open: RedisBackend[] = [];
  let testNo = 0;

  beforeAll(async () => {
    // Private whatever REDIS_URL says: tests here kill connections, fill client slots, add ACL users
    // and restart the server.
    server = await startRedisServer({ faults: true });
    admin = new Redis(server.url);
    // The backend's own test (RedisConnections): Redis >= 7 carries the queue's messages on sharded pub/sub.
    sharded = await usesShardedPubSub(admin);
  });

  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  beforeEach(() => {
    prefix = `${server.prefix}-${++testNo}`;
    logger = new CapturingLogger();
  });

  afterEach(async () => {
    await Promise.all(open.map((b) => b.close()));
    open = [];
  });

  async function backend(options: Partial<JobQueueModuleOptions> = {}): Promise<RedisBackend> {
    const b = new RedisBackend(resolveJobQueueOptions({ redis: server.url, prefix, ...options }), logger);
    open.push(b);
    await b.start();
    return b;
  }

  function spec(name: string, data: unknown = {}, opts?: AddOptions): NewJob {
    const normalized = normalizeAddOptions(opts);
    return {
      id: normalized.jobId ?? randomUUID(),
      name,
      dataJson: JSON.stringify(data),
      opts: normalized,
      createdAt: Date.now(),
    };
  }

  async function claimOne(b: RedisBackend, name: string, leaseMs = 30_000): Promise<ClaimedJob> {
    const { jobs } = await b.claim([{ name, max: 1 }], leaseMs);
    expect(jobs).toHaveLength(1);
    return jobs[0];
  }

  async function types(b: RedisBackend, jobId: string): Promise<string[]> {
    return ((await b.readEvents(jobId, '0', 1000)) ?? []).map((e) => e.type);
  }

  /**
   * Custom events are fenced by the claim token (emit-2.lua). These event tests are about delivery,
   * not fencing, so the first emit on a job marks its record active under a test token (writing no
   * event, so the expected sequences keep only the events under test), then every emit of the job
   * goes through the real fenced script, in call order (they chain on the same promise).
   */
  const fenced = new Map<string, Promise<unknown>>();
  function emitOn(b: RedisBackend, jobId: string, type: string, dataJson: string | undefined): Promise<boolean> {
    let ready = fenced.get(jobId);
    if (!ready) {
      ready = admin.hset(b.keys.job(jobId), 'state', 'active', 'token', 'test-token');
      fenced.set(jobId, ready);
    }
    return ready.then(() => b.emit({ jobId, token: 'test-token' }, type, dataJson));
  }

  /** Cuts the event reader's pub/sub connection (there must be exactly one: one subscribing backend). */
  async function killReader(): Promise<void> {
    const lines = String(await admin.client('LIST'))
      .split('\n')
      .filter((line) => line.includes('name=job-queue:reader'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ flags=P /); // a pub/sub connection
    await admin.client('KILL', 'ID', /id=(\d+)/.exec(lines[0])![1]);
  }

  /** Subscribers of each channel, as the server counts them. */
  async function numsub(...channels: string[]): Promise<number[]> {
    const reply = (await admin.call('PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', ...channels)) as Array<
      string | number
    >;
    return channels.map((_, i) => Number(reply[i * 2 + 1]));
  }

  /** Publishes as the scripts do (SPUBLISH on Redis >= 7). */
  function publish(channel: string, message: string): Promise<unknown> {
    return admin.call(sharded ? 'SPUBLISH' : 'PUBLISH', channel, message);
  }

  /** Connections of this library (CLIENT SETNAME job-queue:<role>) as the server sees them. */
  async function ourConnections(): Promise<string[]> {
    const list = String(await admin.client('LIST'));
    return list
      .split('\n')
      .map((line) => /name=(\S*)/.exec(line)?.[1] ?? '')
      .filter((name) => name.startsWith('job-queue:'));
  }

  // --- producer -------------------------------------------------------------------------------

  it('adds jobs, reads them back and writes a queued event', async () => {
    const b = await backend();
    const [job] = await b.add([spec('build', { n: 1 }, { priority: 3, attempts: 2, owner: 'u1' })]);
    expect(job).toMatchObject({
      name: 'build',
      data: { n: 1 },
      state: 'waiting',
      attempt: 0,
      attempts: 2,
      priority: 3,
      owner: 'u1',
    });
    expect(await b.get(job.id)).toEqual(job);
    const events = await b.readEvents(job.id, '0', 10);
    expect(events).toEqual([
      { id: expect.stringMatching(/^\d+-\d+$/), jobId: job.id, type: 'queued', at: expect.any(Number) },
    ]);
    expect(events![0].at).toBe(Number(events![0].id.split('-')[0]));
    expect(await b.get('nope')).toBeNull();
    expect(await b.readEvents('nope', '0', 10)).toBeNull();
  });

  it('is idempotent on jobId while unfinished, and replaces a finished job (old events deleted)', async () => {
    const b = await backend();
    const [first] = await b.add([spec('build', { v: 1 }, { jobId: 'same' })]);
    const [again, dup] = await b.add([
      spec('build', { v: 2 }, { jobId: 'same' }),
      spec('build', { v: 3 }, { jobId: 'same' }),
    ]);
    expect(again).toEqual(first);
    expect(dup).toEqual(first);
    expect(await types(b, 'same')).toEqual(['queued']);

    const claimed = await claimOne(b, 'build');
    expect(await b.complete({ jobId: 'same', token: claimed.token }, '{"ok":true}')).toBe('completed');
    expect((await b.get('same'))!.result).toEqual({ ok: true });
    const [replaced] = await b.add([spec('build', { v: 4 }, { jobId: 'same' })]);
    expect(replaced).toMatchObject({ state: 'waiting', data: { v: 4 }, attempt: 0 });
    expect(await types(b, 'same')).toEqual(['queued']);
    expect(await admin.pttl(`{${prefix}}:job:same`)).toBe(-1); // the retention TTL of the old job is gone
    expect((await b.counts()).completed).toBe(0);
  });

  it('refuses a batch beyond maxWaiting with QueueFullError and adds none of it', async () => {
    const b = await backend({ maxWaiting: 3 });
    await b.add([spec('a', 1, { jobId: 'j1' }), spec('b', 2, { delayMs: 60_000 })]);
    await expect(b.add([spec('a'), spec('a')])).rejects.toBeInstanceOf(QueueFullError);
    expect(await b.counts()).toMatchObject({ waiting: 1, delayed: 1 });
    // An idempotent re-add adds nothing, so it passes even at the limit.
    await b.add([spec('a', 1, { jobId: 'j1' }), spec('a')]);
    await expect(b.add([spec('a', 1, { jobId: 'j1' })])).resolves.toHaveLength(1);
    await expect(b.add([spec('a')])).rejects.toThrow(/maxWaiting/);
  });

  // --- claim ----------------------------------------------------------------------------------

  it('claims for several names in one call, each up to its max', async () => {
    const b = await backend();
    await b.add([spec('x'), spec('x'), spec('x'), spec('y'), spec('z')]);
    const { jobs } = await b.claim(
      [
        { name: 'x', max: 2 },
        { name: 'y', max: 5 },
      ],
      30_000,
    );
    expect(jobs.map((j) => j.job.name).sort()).toEqual(['x', 'x', 'y']);
    expect(await b.counts()).toMatchObject({ waiting: 2, active: 3 });
  });

  it('claims and completes 1,200 jobs in single calls: every lease and finish index is written', async () => {
    // Past the scripts' variadic chunk (500 members per ZADD/ZREM) and the completion batch (256).
    const b = await backend();
    await b.add(Array.from({ length: 1200 }, () => spec('big')));
    const { jobs } = await b.claim([{ name: 'big', max: 1200 }], 30_000);
    expect(jobs).toHaveLength(1200);
    expect(await admin.zcard(b.keys.active)).toBe(1200);
    const leases = await admin.zrange(b.keys.active, 0, -1, 'WITHSCORES');
    expect(new Set(leases.filter((_, i) => i % 2 === 1)).size).toBe(1); // one lease expiry for the call
    const done = await Promise.all(
      jobs.map((claimed) => b.complete({ jobId: claimed.job.id, token: claimed.token }, '1')),
    );
    expect(done.every((outcome) => outcome === 'completed')).toBe(true);
    expect(await b.counts()).toMatchObject({ active: 0, completed: 1200 });
  });

  it('carries timeoutMs and backoff to the claimed job', async () => {
    const b = await backend();
    await b.add([
      spec('t', null, { timeoutMs: 1234, backoff: { type: 'exponential', delayMs: 10, maxDelayMs: 100 }, attempts: 3 }),
    ]);
    const claimed = await claimOne(b, 't');
    expect(claimed).toMatchObject({ timeoutMs: 1234, backoff: { type: 'exponential', delayMs: 10, maxDelayMs: 100 } });
    expect(claimed.cancelRequested).toBeUndefined();
  });

  it('promotes a delayed job once due, reporting nextDueAt until then', async () => {
    const b = await backend();
    const [job] = await b.add([spec('later', null, { delayMs: 150 })]);
    expect(job.state).toBe('delayed');
    expect((await b.readEvents(job.id, '0', 10))![0]).toMatchObject({ type: 'queued', data: { delayMs: 150 } });
    let batch = await b.claim([{ name: 'later', max: 1 }], 30_000);
    expect(batch.jobs).toHaveLength(0);
    expect(batch.nextDueAt).toBe(job.createdAt + 150);
    // Like the worker loop: wait (a marker or the due time), claim, repeat.
    while (batch.jobs.length === 0) {
      await b.waitForWork(['later'], batch.nextDueAt);
      batch = await b.claim([{ name: 'later', max: 1 }], 30_000);
    }
    expect(batch.jobs[0].job).toMatchObject({ id: job.id, state: 'active', attempt: 1 });
    expect(batch.nextDueAt).toBeUndefined();
  });

  // --- fencing --------------------------------------------------------------------------------

  // --- retry / fail ---------------------------------------------------------------------------

  // --- cancel ---------------------------------------------------------------------------------

  it('forgets a job name with no waiting or delayed job left (no names entry, no wake list), and counts stay right', async () => {
    // Dynamic names (one per tenant) must not pile up in `names` and `wake:<name>` forever.
    const b = await backend({ maxWaiting: 3 });
    const name = `export:${randomUUID()}`;
    const known = async () => [await admin.sismember(b.keys.names, name), await admin.exists(b.keys.wake(name))];
    const [first, second, delayed] = await b.add([
      spec(name, 1, { attempts: 3 }),
      spec(name, 2, { attempts: 3 }),
      spec(name, 3, { delayMs: 60_000 }),
    ]);
    expect(await known()).toEqual([1, 1]);

    // Claiming every waiting job leaves the delayed one: the name stays, the stale markers go.
    const { jobs, nextDueAt } = await b.claim([{ name, max: 5 }], 30_000);
    expect(jobs.map((j) => j.job.id)).toEqual([first.id, second.id]);
    expect(nextDueAt).toBe(delayed.createdAt + 60_000);
    expect(await known()).toEqual([1, 0]);
    expect(await b.counts()).toMatchObject({ waiting: 0, delayed: 1, active: 2 });

    // Cancelling the last delayed job leaves the name idle: forgotten (active jobs do not keep it).
    expect(await b.cancel(delayed.id, 'user', 'o1')).toBe('cancelled');
    expect(await known()).toEqual([0, 0]);
    expect(await b.counts()).toMatchObject({ waiting: 0, delayed: 0, active: 2, cancelled: 1 });

    // Every way back to waiting/delayed registers the name again, so counts and maxWaiting see it.
    expect(await b.fail({ jobId: first.id, token: jobs[0].token }, 'again', 60_000)).toBe('retrying');
    expect(await known()).toEqual([1, 1]);
    expect(await b.counts()).toMatchObject({ waiting: 0, delayed: 1, active: 1 });
    expect(await b.cancel(first.id, 'user', 'o1')).toBe('cancelled');
    expect(await known()).toEqual([0, 0]);
    expect(await b.release({ jobId: second.id, token: jobs[1].token })).toBe('released');
    expect(await known()).toEqual([1, 1]);
    expect(await b.counts()).toMatchObject({ waiting: 1, delayed: 0, active: 0 });
    const again = await claimOne(b, name, 1_000);
    expect(again.job.id).toBe(second.id);
    expect(await known()).toEqual([0, 0]);
    expect(await b.reclaimExpired(Date.now() + 60_000)).toMatchObject({ requeued: [second.id] });
    expect(await known()).toEqual([1, 1]);
    expect(await b.counts()).toMatchObject({ waiting: 1, active: 0 });
    await expect(b.add([spec(name), spec(name), spec(name)])).rejects.toBeInstanceOf(QueueFullError);
    const done = await claimOne(b, name);
    expect(await b.complete({ jobId: second.id, token: done.token }, '1')).toBe('completed');
    expect(await known()).toEqual([0, 0]);
    expect(await b.counts()).toMatchObject({ waiting: 0, delayed: 0, active: 0, completed: 1, cancelled: 2 });

    // A new add of the name works as before, and is claimable.
    const [fresh] = await b.add([spec(name, 'fresh')]);
    expect(await known()).toEqual([1, 1]);
    expect(await b.counts()).toMatchObject({ waiting: 1 });
    expect((await claimOne(b, name)).job).toMatchObject({ id: fresh.id, data: 'fresh', state: 'active' });
    // A waiting job cancelled as the last one of its name, and a claim of a name never added, leave nothing either.
    const [lone] = await b.add([spec(name)]);
    expect(await b.cancel(lone.id, 'user', 'o1')).toBe('cancelled');
    expect(await known()).toEqual([0, 0]);
    await b.claim([{ name: 'never-added', max: 1 }], 30_000);
    expect(await admin.smembers(b.keys.names)).toEqual([]);
  });

  it('cancels an active job: record flag, announcement to other processes, heartbeat, never retried', async () => {
    const worker = await backend();
    const other = await backend();
    const heard = new Deferred<unknown>();
    const up = new Deferred<void>();
    worker.onSubscriptionState((s) => s === 'up' && up.resolve());
    worker.onCancelRequest((m) => heard.resolve(m));
    await up.promise;

    const [job] = await other.add([spec('c', null, { attempts: 3 })]);
    const claimed = await claimOne(worker, 'c');
    const lease = { jobId: job.id, token: claimed.token };
    expect(await other.cancel(job.id, 'stop it', 'proc-2')).toBe('cancelling');
    expect(await heard.promise).toEqual({
      jobId: job.id,
      reason: 'stop it',
      origin: 'proc-2',
      sentAt: expect.any(Number),
    });
    expect(await other.cancelRequests([job.id, 'missing'])).toEqual(['stop it', null]);
    expect(await worker.heartbeat([lease], 30_000)).toEqual([{ status: 'cancel', reason: 'stop it' }]);
    // The handler threw instead of honouring the signal: still cancelled, not retried.
    expect(await worker.fail(lease, 'AbortError', 0)).toBe('cancelled');
    expect(await worker.get(job.id)).toMatchObject({ state: 'cancelled', cancelReason: 'stop it' });
    expect(await other.cancelRequests([job.id])).toEqual([null]);
  });

  it('reports a cancel that raced a claim on the claimed job', async () => {
    const b = await backend();
    const [job] = await b.add([spec('c')]);
    // Simulate the race: the record carries a request while the job is still waiting.
    await admin.hset(`{${prefix}}:job:${job.id}`, 'cancelRequested', 'raced');
    expect((await claimOne(b, 'c')).cancelRequested).toBe('raced');
  });

  it('ignores malformed cancel messages and keeps delivering good ones', async () => {
    const b = await backend();
    const up = new Deferred<void>();
    const got: unknown[] = [];
    const good = new Deferred<void>();
    b.onSubscriptionState((s) => s === 'up' && up.resolve());
    b.onCancelRequest((m) => {
      got.push(m);
      good.resolve();
    });
    await up.promise;
    await publish(b.keys.cancelChannel, '{not json');
    await publish(b.keys.cancelChannel, '{"jobId":1}');
    await publish(b.keys.cancelChannel, JSON.stringify({ jobId: 'j', reason: 'r', origin: 'o' }));
    await good.promise;
    expect(got).toEqual([{ jobId: 'j', reason: 'r', origin: 'o' }]);
    expect(logger.count(/malformed cancel message/)).toBe(1);
  });

  it('reports the cancel subscription going down and up again, and receives cancels after it', async () => {
    const b = await backend();
    const states: string[] = [];
    let upCount = 0;
    const firstUp = new Deferred<void>();
    const secondUp = new Deferred<void>();
    b.onSubscriptionState((s) => {
      states.push(s);
      if (s === 'up' && ++upCount === 1) firstUp.resolve();
      if (s === 'up' && upCount === 2) secondUp.resolve();
    });
    await firstUp.promise;
    await admin.client('KILL', 'TYPE', 'pubsub');
    await secondUp.promise;
    expect(states).toEqual(['up', 'down', 'up']);
    const heard = new Deferred<unknown>();
    b.onCancelRequest((m) => heard.resolve(m));
    await publish(b.keys.cancelChannel, JSON.stringify({ jobId: 'j', reason: 'r', origin: 'o' }));
    expect(await heard.promise).toMatchObject({ jobId: 'j' });
  });

  // --- release / reclaim ----------------------------------------------------------------------

  it('is safe when several processes sweep at once: each job is reclaimed exactly once', async () => {
    const [a, b, c] = await Promise.all([backend(), backend(), backend()]);
    const jobs = await a.add(Array.from({ length: 60 }, (_, i) => spec('s', i, { attempts: 2 })));
    await a.claim([{ name: 's', max: 60 }], 1_000);
    const results = await Promise.all([a, b, c].map((x) => x.reclaimExpired(Date.now() + 60_000)));
    const requeued = results.flatMap((r) => r.requeued);
    expect(requeued.sort()).toEqual(jobs.map((j) => j.id).sort());
    for (const job of jobs.slice(0, 5)) expect(await types(a, job.id)).toEqual(['queued', 'active', 'stalled']);
  });

  // --- events ---------------------------------------------------------------------------------

  it('does not revive the stream of an unknown job on emit', async () => {
    const b = await backend();
    await b.emit({ jobId: 'ghost', token: 'any' }, 'token', '1');
    expect(await admin.exists(b.keys.events('ghost'))).toBe(0);
  });

  it('subscribe delivers history, then live events from another process, and resumes after an id', async () => {
    const reader = await backend();
    const writer = await backend();
    const [job] = await writer.add([spec('live')]);
    const claimed = await claimOne(writer, 'live');
    const sub = new EventCollector();
    const off = reader.subscribe(job.id, '0', sub);
    expect((await sub.until(2)).map((e) => e.type)).toEqual(['queued', 'active']);
    for (let i = 0; i < 5; i++) void writer.emit({ jobId: job.id, token: claimed.token }, 'token', String(i));
    await writer.progress({ jobId: job.id, token: claimed.token }, '0.5');
    await writer.complete({ jobId: job.id, token: claimed.token }, '42');
    const events = await sub.until(9);
    expect(events.map((e) => e.type)).toEqual(['queued', 'active', ...Array(5).fill('token'), 'progress', 'completed']);
    expect(events.slice(2, 7).map((e) => e.data)).toEqual([0, 1, 2, 3, 4]);
    expect(events[8].data).toEqual({ result: 42 });
    off();

    // Resume from the 4th event: exactly the ones after it, in order.
    const resumed = new EventCollector();
    const off2 = reader.subscribe(job.id, events[3].id, resumed);
    expect(await resumed.until(5)).toEqual(events.slice(4));
    off2();
    expect(sub.errors).toEqual([]);
  });

  it('lets a late subscriber of a job already being read catch up without gaps or repeats', async () => {
    const b = await backend();
    const [job] = await b.add([spec('late')]);
    const early = new EventCollector();
    b.subscribe(job.id, '0', early);
    await early.until(1);
    for (let i = 0; i < 10; i++) await emitOn(b, job.id, 't', String(i));
    await early.until(11);
    const late = new EventCollector();
    b.subscribe(job.id, early.events[2].id, late); // behind the shared cursor
    await emitOn(b, job.id, 't', '10');
    const lateEvents = await late.until(9);
    expect(lateEvents.map((e) => e.data)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await early.until(12)).length).toBe(12);
    await emitOn(b, job.id, 't', '11');
    await early.until(13);
    await late.until(10);
    expect(early.events.map((e) => e.id)).toEqual([...new Set(early.events.map((e) => e.id))]);
    expect(late.events.map((e) => e.data)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('pages long histories and keeps streams bounded by maxLen', async () => {
    const b = await backend({ events: { maxLen: 10, retentionMs: 60_000 } });
    const [job] = await b.add([spec('long')]);
    await Promise.all(Array.from({ length: 1500 }, (_, i) => emitOn(b, job.id, 't', String(i))));
    const length = await admin.xlen(b.keys.events(job.id));
    // MAXLEN ~ trims whole stream nodes (100 entries by default): bounded, approximately.
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThanOrEqual(10 + 100);
    const sub = new EventCollector();
    b.subscribe(job.id, '0', sub);
    const events = await sub.until(length);
    expect(events.map((e) => e.data)).toEqual([...Array(length).keys()].map((i) => 1500 - length + i));

    const big = await backend({ prefix: `${prefix}-big` });
    const [bigJob] = await big.add([spec('long')]);
    await Promise.all(Array.from({ length: 2500 }, (_, i) => emitOn(big, bigJob.id, 't', String(i))));
    const all = new EventCollector();
    big.subscribe(bigJob.id, '0', all);
    const got = await all.until(2501);
    expect(got.slice(1).map((e) => e.data)).toEqual([...Array(2500).keys()]);
  });

  it('skips the idempotency read and the clean-up for a generated id, and keeps both for a given one', async () => {
    const b = await backend();
    await admin.config('RESETSTAT');
    const [fresh] = await b.add([{ ...spec('gen'), generatedId: true }]);
    const stats = String(await admin.info('commandstats'));
    // (One EXISTS remains: the queue-events flag, see publishQueueEvent.)
    // Nor a publish of `queued` on the job's channel: nobody can follow an id that is not out yet.
    expect(stats).not.toMatch(/cmdstat_(hget|hmget|del|s?publish):/);
    expect(/cmdstat_exists:calls=(\d+)/.exec(stats)?.[1]).toBe('1');
    expect((await b.readEvents(fresh.id, '0', 10))?.map((e) => e.type)).toEqual(['queued']);
    const given = spec('gen', {}, { jobId: 'given-id' });
    await b.add([given]);
    const [again] = await b.add([{ ...given, dataJson: '"other"' }]);
    expect(again.data).toEqual({});
  });

  it("runs an unfollowed job without a publish on its channel or a lookup of its stream; a followed job's events are heard live", async () => {
    const b = await backend();
    const monitor = await admin.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
    try {
      // Unfollowed: its record says it has no stream (`ns`), and nobody marked it followed (`lsn`).
      const [quiet] = await b.add([{ ...spec('hint'), generatedId: true }]);
      const first = await claimOne(b, 'hint');
      expect(await b.complete({ jobId: quiet.id, token: first.token }, '1')).toBe('completed');
      const aboutQuiet = seen.filter((args) => args.some((arg) => arg.includes(quiet.id)));
      expect(aboutQuiet.filter(([command]) => /^s?publish$/i.test(command))).toEqual([]);
      expect(aboutQuiet.filter(([command]) => /^exists$/i.test(command))).toEqual([]);
      expect(await types(b, quiet.id)).toEqual(['queued', 'active', 'completed']);

      // Followed: the live subscription's first read marks it, and its lifecycle is published from then on.
      const [heard] = await b.add([spec('hint')]);
      const sub = new EventCollector();
      b.subscribe(heard.id, '0', sub);
      await sub.until(1);
      expect(await admin.hget(b.keys.job(heard.id), 'lsn')).toBe('1');
      const second = await claimOne(b, 'hint');
      // A progress event creates its stream: the record stops saying it has none, and the end is appended there.
      expect(await b.progress({ jobId: heard.id, token: second.token }, '50')).toBe(true);
      expect(await admin.hexists(b.keys.job(heard.id), 'ns')).toBe(0);
      expect(await b.complete({ jobId: heard.id, token: second.token }, '2')).toBe('completed');
      const live = await sub.until(4);
      expect(live.map((e) => e.type)).toEqual(['queued', 'active', 'progress', 'completed']);
      expect(await admin.xlen(b.keys.events(heard.id))).toBe(4);
    } finally {
      monitor.disconnect();
    }
  });

  it('sends the completions of a tick with the next claim, in one script call', async () => {
    const b = await backend();
    const [first] = await b.add([spec('cc'), spec('cc')]);
    const claimed = await claimOne(b, 'cc');
    // Every script call goes through runOnce (run adds the wait-out of a slot migration around it).
    const run = jest.spyOn(b as unknown as { runOnce(name: string): Promise<unknown> }, 'runOnce');
    // As the worker does: a handler finished (its completion is queued for this tick) and its slot is claimed again.
    const completed = b.complete({ jobId: first.id, token: claimed.token }, '1');
    const next = await b.claim([{ name: 'cc', max: 1 }], 30_000);
    expect(await completed).toBe('completed');
    expect(next.jobs).toHaveLength(1);
    expect(run.mock.calls.map(([name]) => name)).toEqual(['completeClaim']);
    expect((await b.get(first.id))?.state).toBe('completed');
  });

  it('expires a finished job and its events after retentionMs (PEXPIRE), and only then', async () => {
    const b = await backend({ events: { maxLen: 100, retentionMs: 60_000 } });
    const [done, running] = await b.add([spec('ret'), spec('ret')]);
    const { jobs } = await b.claim([{ name: 'ret', max: 2 }], 30_000);
    expect(await admin.pttl(b.keys.job(running.id))).toBe(-1);
    // Both get a stream of their own (a job that only ran has none: see the lazy-stream tests).
    await b.progress({ jobId: done.id, token: jobs[0].token }, '1');
    await b.progress({ jobId: running.id, token: jobs[1].token }, '1');
    await b.complete({ jobId: done.id, token: jobs[0].token }, 'null');
    for (const key of [b.keys.job(done.id), b.keys.events(done.id)]) {
      const ttl = await admin.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    expect(await admin.pttl(b.keys.job(running.id))).toBe(-1);
    expect(await admin.pttl(b.keys.events(running.id))).toBe(-1);
    expect(await b.counts()).toMatchObject({ completed: 1, active: 1 });
    expect(await admin.zscore(b.keys.active, done.id)).toBeNull();
  });

  it('survives a reader disconnect: events emitted while it is down arrive once, in order', async () => {
    const b = await backend();
    const writer = await backend();
    const [job, other] = await writer.add([spec('rc'), spec('rc')]);
    const sub = new EventCollector();
    b.subscribe(job.id, '0', sub);
    await sub.until(1);
    await emitOn(writer, job.id, 't', '0');
    await sub.until(2);
    const admitted = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))![1]);
    try {
      // Keep the reader out while the events are written (no free client slot), so they are
      // certainly published while it is not subscribed.
      await admin.config('SET', 'maxclients', String(admitted - 1));
      await killReader();
      for (let i = 1; i <= 5; i++) await emitOn(writer, job.id, 't', String(i));
      // A subscription opened while the reader is down waits for it, then gets its history.
      const [job2] = await writer.add([spec('rc')]);
      const sub2 = new EventCollector();
      b.subscribe(job2.id, '0', sub2);
      await emitOn(writer, job2.id, 't', '"early"');
      await admin.config('SET', 'maxclients', '10000');
      const events = await sub.until(7);
      expect(events.map((e) => e.data)).toEqual([undefined, 0, 1, 2, 3, 4, 5]);
      expect((await sub2.until(2)).map((e) => e.data)).toEqual([undefined, 'early']);
      // Live again, for the old, the new and a brand-new subscription.
      await emitOn(writer, job.id, 't', '6');
      await emitOn(writer, job2.id, 't', '"late"');
      const sub3 = new EventCollector();
      b.subscribe(other.id, '0', sub3);
      await sub3.until(1);
      await emitOn(writer, other.id, 't', '"x"');
      expect((await sub3.until(2))[1].data).toBe('x');
      expect((await sub.until(8)).map((e) => e.data)).toEqual([undefined, 0, 1, 2, 3, 4, 5, 6]);
      expect((await sub2.until(3)).map((e) => e.data)).toEqual([undefined, 'early', 'late']);
      // Nothing twice: the last events arrived after every message the catch-up could have repeated.
      expect(sub.events).toHaveLength(8);
      expect(sub2.events).toHaveLength(3);
      expect([...sub.errors, ...sub2.errors, ...sub3.errors]).toEqual([]);
    } finally {
      await admin.config('SET', 'maxclients', '10000');
    }
  });

  it('gives subscribers joining during a burst of writes, and across a reconnect, every event once', async () => {
    const b = await backend();
    const writer = await backend();
    const [job] = await writer.add([spec('burst')]);
    // A history of several pages: each newcomer is still reading it while the next writes land.
    const HISTORY = 1_200;
    await Promise.all(Array.from({ length: HISTORY }, (_, i) => emitOn(writer, job.id, 'h', String(i))));
    const collectors: EventCollector[] = [];
    const ROUNDS = 12;
    const PER_ROUND = 50;
    for (let round = 0; round < ROUNDS; round++) {
      const c = new EventCollector();
      b.subscribe(job.id, '0', c);
      collectors.push(c);
      if (round === ROUNDS / 2) void admin.client('KILL', 'TYPE', 'pubsub'); // mid-burst, mid-catch-up
      await Promise.all(
        Array.from({ length: PER_ROUND }, (_, i) => emitOn(writer, job.id, 't', String(round * PER_ROUND + i))),
      );
    }
    await emitOn(writer, job.id, 'end', undefined);
    const all = (await b.readEvents(job.id, '0', 10_000))!;
    expect(all).toHaveLength(1 + HISTORY + ROUNDS * PER_ROUND + 1);
    // A repeated event would make a collector reach the count with the wrong content.
    for (const c of collectors) expect(await c.until(all.length)).toEqual(all);
    for (const c of collectors) expect(c.errors).toEqual([]);
  });

  it('subscribes the reader only once its connection is ready, not during the handshake', async () => {
    const b = await backend();
    const [job] = await b.add([spec('handshake')]);
    // White box: open the reader's connection and subscribe while its handshake is running (status
    // 'connect'): a SUBSCRIBE written then would make the server refuse ioredis's ready check (INFO).
    const connections = (b as unknown as { connections: RedisConnections }).connections;
    const readerClient = (await connections.get('reader')) as Redis;
    const sub = new EventCollector();
    // The status is asserted after the listener: a failed expect inside it would surface as a timeout.
    const statusWhenSubscribed = await new Promise<string>((resolve) =>
      readerClient.once('connect', () => {
        b.subscribe(job.id, '0', sub);
        resolve(readerClient.status);
      }),
    );
    expect(statusWhenSubscribed).toBe('connect');
    expect((await sub.until(1)).map((e) => e.type)).toEqual(['queued']);
    await emitOn(b, job.id, 'after-ready', undefined);
    expect((await sub.until(2)).map((e) => e.type)).toEqual(['queued', 'after-ready']);
    expect(sub.errors).toEqual([]);
    expect(logger.count(/failed|refused/)).toBe(0);
  });

  it('hands over events published during the history read once, after the history, in order', async () => {
    const b = await backend();
    const writer = await backend();
    const [job] = await writer.add([spec('race')]);
    await emitOn(writer, job.id, 't', '0');
    const channel = b.keys.eventChannel(job.id);
    // White box: the reader's pub/sub connection, and the history read on the command connection.
    const connections = (b as unknown as { connections: RedisConnections }).connections;
    const readerClient = await connections.get('reader');
    const messages: string[] = [];
    const arrived = new DeferredMap<void>();
    readerClient.on(sharded ? 'smessage' : 'message', (ch: string, message: string) => {
      if (ch !== channel) return;
      messages.push(message);
      arrived.get(String(messages.length)).resolve();
    });
    const history = b as unknown as { readHistory(...args: unknown[]): Promise<unknown> };
    const readHistory = history.readHistory.bind(b) as (...args: unknown[]) => Promise<unknown>;
    const spy = jest.spyOn(history, 'readHistory').mockImplementationOnce((async (...args: unknown[]) => {
      // Published after the SUBSCRIBE was confirmed and before the read: in the history AND a message.
      await emitOn(writer, job.id, 't', '1');
      await arrived.get('1').promise;
      const reply = await readHistory(...args);
      // Published after the read: only a message, which must wait for the history.
      await emitOn(writer, job.id, 't', '2');
      await arrived.get('2').promise;
      return reply;
    }) as never);
    try {
      const sub = new EventCollector();
      b.subscribe(job.id, '0', sub);
      await sub.until(4);
      await emitOn(writer, job.id, 't', '3');
      expect((await sub.until(5)).map((e) => e.data)).toEqual([undefined, 0, 1, 2, 3]);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('delivers an event only to the subscribers of its job, with 2,000 jobs subscribed', async () => {
    const b = await backend();
    const writer = await backend();
    const jobs = await writer.add(Array.from({ length: 2000 }, () => spec('many')));
    const collectors = jobs.map((job) => {
      const c = new EventCollector();
      b.subscribe(job.id, '0', c);
      return c;
    });
    await Promise.all(collectors.map((c) => c.until(1)));
    // One channel per job on the server, each with one subscriber (this process's reader).
    const channels = (await admin.call(
      'PUBSUB',
      sharded ? 'SHARDCHANNELS' : 'CHANNELS',
      `${b.keys.eventChannelBase}*`,
    )) as string[];
    expect(channels.sort()).toEqual(jobs.map((job) => b.keys.eventChannel(job.id)).sort());
    expect(await numsub(...channels.slice(0, 3))).toEqual([1, 1, 1]);

    await admin.config('RESETSTAT');
    await emitOn(writer, jobs[1234].id, 'ping', '"one"');
    expect((await collectors[1234].until(2))[1]).toMatchObject({ type: 'ping', data: 'one' });
    // Messages share the reader's connection in publish order: once this later one has arrived,
    // anything the first had caused elsewhere would have arrived too.
    await emitOn(writer, jobs[0].id, 'sentinel', undefined);
    await collectors[0].until(2);
    collectors.forEach((c, i) => expect(c.events).toHaveLength(i === 1234 || i === 0 ? 2 : 1));
    // And Redis did no work for the 1,999 others: one script and one PUBLISH per event, no stream read.
    const stats = String(await admin.info('commandstats'));
    expect(stats).not.toMatch(/cmdstat_(xrange|xread|xrevrange)/);
    expect(new RegExp(`cmdstat_${sharded ? 'spublish' : 'publish'}:calls=(\\d+)`).exec(stats)?.[1]).toBe('2');
  });

  it('gives two subscribers of one job, with different after, exactly their events', async () => {
    const b = await backend();
    const writer = await backend();
    const [job] = await writer.add([spec('two')]);
    for (let i = 0; i < 5; i++) await emitOn(writer, job.id, 't', String(i));
    const history = (await b.readEvents(job.id, '0', 100))!;
    expect(history).toHaveLength(6);
    // Same tick: they share one channel subscription.
    const early = new EventCollector();
    const late = new EventCollector();
    const offEarly = b.subscribe(job.id, history[1].id, early);
    b.subscribe(job.id, history[4].id, late);
    expect(await early.until(4)).toEqual(history.slice(2));
    expect(await late.until(1)).toEqual(history.slice(5));
    await emitOn(writer, job.id, 't', '5');
    await emitOn(writer, job.id, 't', '6');
    const all = (await b.readEvents(job.id, '0', 100))!;
    expect(await early.until(6)).toEqual(all.slice(2));
    expect(await late.until(3)).toEqual(all.slice(5));
    // One leaving does not disturb the other, nor unsubscribe the channel they shared.
    offEarly();
    await emitOn(writer, job.id, 't', '7');
    expect((await late.until(4)).map((e) => e.data)).toEqual([4, 5, 6, 7]);
    expect(early.events).toHaveLength(6);
    expect(await numsub(b.keys.eventChannel(job.id))).toEqual([1]);
  });

  it('unsubscribes a job channel with its last subscriber, and survives leave + rejoin in one tick', async () => {
    const b = await backend();
    const [job] = await b.add([spec('lj')]);
    const channel = b.keys.eventChannel(job.id);
    const first = new EventCollector();
    const offFirst = b.subscribe(job.id, '0', first);
    await first.until(1);
    offFirst();
    const second = new EventCollector();
    const offSecond = b.subscribe(job.id, '0', second);
    expect((await second.until(1))[0].type).toBe('queued');
    await emitOn(b, job.id, 't', '1');
    expect((await second.until(2))[1].data).toBe(1);
    expect(first.events).toHaveLength(1);
    expect(await numsub(channel)).toEqual([1]);
    offSecond();
    // No client-side event marks the server's UNSUBSCRIBE: poll the server.
    await eventually(async () => (await numsub(channel))[0] === 0);
  });

  it('skips malformed messages on an event channel (logged once) and keeps delivering', async () => {
    const b = await backend();
    const [job] = await b.add([spec('bad-msg')]);
    const sub = new EventCollector();
    b.subscribe(job.id, '0', sub);
    await sub.until(1);
    const channel = b.keys.eventChannel(job.id);
    for (const junk of ['garbage', '12345 no-dash-in-id', '1-1', '1-1 ', '']) await publish(channel, junk);
    await emitOn(b, job.id, 't', '1');
    expect((await sub.until(2)).map((e) => e.type)).toEqual(['queued', 't']);
    expect(sub.errors).toEqual([]);
    expect(logger.count(/malformed event message/)).toBe(1);
  });

  // --- watchdog -------------------------------------------------------------------------------

  // --- wake-up ----------------------------------------------------------------------------------

  it('wakes a waiting worker when another process adds a job, and on interruptWait', async () => {
    const worker = await backend();
    const producer = await backend();
    await worker.claim([{ name: 'wake', max: 1 }], 30_000); // nothing there, clears stale markers
    const woken = worker.waitForWork(['wake', 'other'], undefined);
    await producer.add([spec('wake')]);
    await woken;
    expect((await worker.claim([{ name: 'wake', max: 1 }], 30_000)).jobs).toHaveLength(1);

    const interrupted = worker.waitForWork(['wake'], Date.now() + 600_000);
    worker.interruptWait();
    await interrupted;
    // interruptWait right after the call (before the BLPOP reached Redis) also ends it.
    const early = worker.waitForWork(['wake'], undefined);
    worker.interruptWait();
    await early;
    expect(await worker.waitForWork(['wake'], Date.now() - 1)).toBeUndefined();
  });

  // --- corrupt data -----------------------------------------------------------------------------

  it('treats corrupt records as missing, logs once, and fails a corrupt claimed job instead of crashing', async () => {
    const b = await backend();
    const key = b.keys.job('bad');
    await admin.hset(key, {
      id: 'bad',
      name: 'c',
      state: 'waiting',
      data: '{nope',
      attempt: '0',
      attempts: '1',
      priority: '0',
      seq: '1',
      createdAt: '1',
    });
    expect(await b.get('bad')).toBeNull();
    expect(await b.get('bad')).toBeNull();
    expect(logger.count(/Job record 'bad' is corrupt/)).toBe(1);

    // A waiting member is '<20-character queue position><id>' (see queuePos in common.lua).
    await admin.zadd(b.keys.waiting('c'), '0', `1${'0'.repeat(19)}bad`);
    const [good] = await b.add([spec('c', 'fine')]);
    const { jobs } = await b.claim([{ name: 'c', max: 5 }], 30_000);
    expect(jobs.map((j) => j.job.id)).toEqual([good.id]);
    await eventually(async () => (await admin.hget(key, 'state')) === 'failed');

    // A stream of its own first (an emit), then an entry with unreadable data appended by hand.
    await emitOn(b, good.id, 'custom', '1');
    await admin.xadd(b.keys.events(good.id), '*', 't', 'custom', 'd', '{broken');
    const events = (await b.readEvents(good.id, '0', 10))!;
    expect(events.map((e) => e.type)).toEqual(['queued', 'active', 'custom', 'custom']);
    expect(events[3].data).toBeUndefined();
  });

  it('still claims a waiting job written by 0.1.x (a bare-id member), so an upgrade loses nothing', async () => {
    const b = await backend();
    await admin.hset(b.keys.job('legacy'), {
      id: 'legacy',
      name: 'up',
      state: 'waiting',
      data: '1',
      attempt: '0',
      attempts: '1',
      priority: '0',
      seq: '7',
      createdAt: '1',
    });
    await admin.zadd(b.keys.waiting('up'), String(7), 'legacy');
    await admin.sadd(`${b.keys.base}names`, 'up');
    const { jobs } = await b.claim([{ name: 'up', max: 5 }], 30_000);
    expect(jobs.map((j) => j.job.id)).toEqual(['legacy']);
    expect(await b.cancel('legacy', 'x', 'o')).toBe('cancelling');
  });

  it('fails damaged records without a name where they would be requeued, never with a Lua error', async () => {
    const b = await backend();
    const [job] = await b.add([spec('dmg', null, { attempts: 3 })]);
    const claimed = await claimOne(b, 'dmg');
    await admin.hdel(b.keys.job(job.id), 'name');
    expect(await b.fail({ jobId: job.id, token: claimed.token }, 'boom', 0)).toBe('failed');
    const [other] = await b.add([spec('dmg')]);
    const second = await claimOne(b, 'dmg');
    await admin.hdel(b.keys.job(other.id), 'name');
    expect(await b.release({ jobId: other.id, token: second.token })).toBe('failed');
    expect(await admin.hget(b.keys.job(other.id), 'state')).toBe('failed');
    await admin.hset(b.keys.job('waits'), { id: 'waits', state: 'waiting', data: '1' });
    expect(await b.cancel('waits', 'x', 'o')).toBe('cancelled');
  });

  it('reclaims around damaged active records instead of failing the whole sweep', async () => {
    const b = await backend();
    const [normal] = await b.add([spec('d', null, { attempts: 2 })]);
    await b.claim([{ name: 'd', max: 1 }], 1_000);
    // Active, but the numbers and the name are gone; and one with a name but garbage numbers.
    await admin.hset(b.keys.job('nameless'), { id: 'nameless', state: 'active', data: '1' });
    await admin.hset(b.keys.job('garbled'), {
      id: 'garbled',
      name: 'd',
      state: 'active',
      data: '1',
      attempt: 'x',
      attempts: 'y',
      priority: 'z',
    });
    await admin.zadd(b.keys.active, '1', 'nameless', '1', 'garbled');
    const result = await b.reclaimExpired(Date.now() + 60_000);
    // A stall is counted apart from attempts, so garbage attempt numbers do not matter: requeued.
    expect(result.requeued.sort()).toEqual([normal.id, 'garbled'].sort());
    expect(result.failed).toEqual(['nameless']);
    expect(await admin.hget(b.keys.job('nameless'), 'state')).toBe('failed');
    expect(await b.counts()).toMatchObject({ active: 0, waiting: 2, failed: 1 });
  });

  it('ends only the subscription whose event key was overwritten with another type', async () => {
    const b = await backend();
    const [good, bad] = await b.add([spec('wt'), spec('wt')]);
    const goodSub = new EventCollector();
    const badSub = new EventCollector();
    b.subscribe(good.id, '0', goodSub);
    b.subscribe(bad.id, '0', badSub);
    await Promise.all([goodSub.until(1), badSub.until(1)]);
    await admin.del(b.keys.events(bad.id));
    await admin.set(b.keys.events(bad.id), 'not a stream');
    await emitOn(b, good.id, 't', '1');
    expect((await goodSub.until(2))[1].data).toBe(1);
    // A new subscription reads the stream at once: it fails, alone.
    const lateSub = new EventCollector();
    b.subscribe(bad.id, '0', lateSub);
    expect((await lateSub.failed.promise).message).toMatch(/unreadable/);
    // A live one reads it again after a reconnect of the reader: it fails then, alone too.
    await killReader();
    expect((await badSub.failed.promise).message).toMatch(/unreadable/);
    await emitOn(b, good.id, 't', '2');
    expect((await goodSub.until(3)).map((e) => e.data)).toEqual([undefined, 1, 2]);
    expect(goodSub.errors).toEqual([]);
    expect(logger.count(/is corrupt \(its event key holds a string/)).toBe(1);
  });

  it('ends the subscriptions whose SUBSCRIBE Redis refuses (ACL NOPERM) instead of leaving them waiting', async () => {
    const writer = await backend();
    const [denied, allowed] = await writer.add([spec('acl'), spec('acl')]);
    // A user that may use every key and command, but only the cancel channel and one job's channel.
    const user = `jq-${prefix}`;
    await admin.call(
      'ACL',
      'SETUSER',
      user,
      'reset',
      'on',
      '>pw',
      '~*',
      '+@all',
      'resetchannels',
      `&{${prefix}}:cancel`,
      `&{${prefix}}:evc:${allowed.id}`,
    );
    try {
      const url = new URL(server.url);
      url.username = user;
      url.password = 'pw';
      const b = await backend({ redis: url.toString() });
      const ok = new EventCollector();
      b.subscribe(allowed.id, '0', ok);
      await ok.until(1);

      const refused = new EventCollector();
      b.subscribe(denied.id, '0', refused);
      const err = await refused.failed.promise;
      expect(err.message).toMatch(new RegExp(`Could not subscribe to the events of job '${denied.id}': NOPERM`));
      expect(refused.events).toEqual([]);
      // A later subscription of that job is refused too, on its own SUBSCRIBE; logged once per episode.
      const again = new EventCollector();
      b.subscribe(denied.id, '0', again);
      expect((await again.failed.promise).message).toMatch(/NOPERM/);
      expect(logger.count(/Redis refused to subscribe to job events: NOPERM/)).toBe(1);

      // The allowed subscription is not affected: it still gets live events.
      expect(await writer.cancel(allowed.id, 'bye', 'o1')).toBe('cancelled');
      expect((await ok.until(2)).map((e) => e.type)).toEqual(['queued', 'cancelled']);
      expect(ok.errors).toEqual([]);
    } finally {
      await Promise.all(open.map((b) => b.close()));
      open = [];
      await admin.call('ACL', 'DELUSER', user);
    }
  });

  // --- connections ------------------------------------------------------------------------------

  it('uses at most 4 connections with 500 live subscriptions, and none after close()', async () => {
    const b = await backend();
    const up = new Deferred<void>();
    b.onSubscriptionState((s) => s === 'up' && up.resolve());
    await up.promise;
    const idle = b.waitForWork(['n'], undefined);

    const jobs = await b.add(Array.from({ length: 500 }, () => spec('n')));
    await idle;
    const collectors = jobs.map((job) => {
      const c = new EventCollector();
      b.subscribe(job.id, '0', c);
      return c;
    });
    await Promise.all(collectors.map((c) => c.until(1)));
    await Promise.all(jobs.map((job, i) => emitOn(b, job.id, 'ping', String(i))));
    const received = await Promise.all(collectors.map((c) => c.until(2)));
    received.forEach((events, i) => expect(events[1]).toMatchObject({ type: 'ping', data: i }));

    const names = await ourConnections();
    expect(names.sort()).toEqual([
      'job-queue:blocking',
      'job-queue:command',
      'job-queue:reader',
      'job-queue:subscriber',
    ]);

    await b.close();
    await b.close(); // idempotent
    await eventually(async () => (await ourConnections()).length === 0);
  });

  it('logs a Redis outage once, then recovers every connection after a server restart', async () => {
    const b = await backend();
    const states: string[] = [];
    const upAgain = new Deferred<void>();
    b.onSubscriptionState((s) => {
      states.push(s);
      if (s === 'up' && states.includes('down')) upAgain.resolve();
    });
    await eventually(() => states.includes('up'));
    const [before] = await b.add([spec('o')]);
    const sub = new EventCollector();
    b.subscribe(before.id, '0', sub);
    await sub.until(1);
    const idle = b.waitForWork(['o-idle'], undefined);

    await server.stop();
    await eventually(() => logger.count(/connection failed/) > 0);
    await server.start(); // empty: no persistence, scripts are gone too
    await upAgain.promise;
    await idle;
    await eventually(() => logger.count(/recovered/) > 0);
    expect(logger.count(/connection failed/)).toBe(1);
    expect(logger.count(/recovered/)).toBe(1);

    // Every path works again: scripts reload (NOSCRIPT → EVAL), the reader and the waiter reconnected.
    const [after] = await b.add([spec('o')]);
    const live = new EventCollector();
    b.subscribe(after.id, '0', live);
    await live.until(1);
    await emitOn(b, after.id, 't', '1');
    expect((await live.until(2))[1].data).toBe(1);
    const woken = b.waitForWork(['o2'], undefined);
    await b.add([spec('o2')]);
    await woken;
    expect((await b.claim([{ name: 'o2', max: 1 }], 30_000)).jobs).toHaveLength(1);
  });

  it('connects the duplicates of a lazyConnect instance: the cancel channel, event reader and waiter all work', async () => {
    // Duplicates inherit lazyConnect; the pub/sub roles send nothing before 'ready', so they must be
    // connected explicitly (the node clients of an ioredis Cluster are always lazy).
    const mine = new Redis(server.url, { lazyConnect: true });
    try {
      const b = new RedisBackend(resolveJobQueueOptions({ redis: mine, prefix }), logger);
      open.push(b);
      await b.start();
      const subscribed = new Deferred<void>();
      b.onSubscriptionState((state) => state === 'up' && subscribed.resolve());
      const cancels: string[] = [];
      const cancelled = new Deferred<void>();
      b.onCancelRequest((message) => {
        cancels.push(message.jobId);
        cancelled.resolve();
      });
      await subscribed.promise;

      const [job] = await b.add([spec('lazy')]);
      const sub = new EventCollector();
      b.subscribe(job.id, '0', sub);
      expect((await sub.until(1)).map((e) => e.type)).toEqual(['queued']);
      const woken = b.waitForWork(['lazy-next'], Date.now() + 30_000);
      await b.add([spec('lazy-next')]);
      await woken;
      const claimed = await claimOne(b, 'lazy');
      expect(await b.cancel(job.id, 'stop', 'elsewhere')).toBe('cancelling');
      await cancelled.promise;
      expect(cancels).toEqual([job.id]);
      expect((await sub.until(2)).map((e) => e.type)).toEqual(['queued', 'active']);
      expect(claimed.job.id).toBe(job.id);
      expect(sub.errors).toEqual([]);
    } finally {
      mine.disconnect();
    }
  });

  it('never closes a user-supplied ioredis instance, only its duplicates', async () => {
    const mine = new Redis(server.url, { keyPrefix: 'app:' });
    try {
      const b = new RedisBackend(resolveJobQueueOptions({ redis: mine, prefix }), logger);
      open.push(b);
      await b.start();
      const [job] = await b.add([spec('u')]);
      // The user's keyPrefix is kept for our keys too.
      expect(await admin.exists(`app:{${prefix}}:job:${job.id}`)).toBe(1);
      expect(await b.get(job.id)).toMatchObject({ id: job.id });
      await b.close();
      expect(await mine.ping()).toBe('PONG');
      expect(mine.status).toBe('ready');
    } finally {
      mine.disconnect();
    }
  });
});
