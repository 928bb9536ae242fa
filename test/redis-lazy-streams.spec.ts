import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { NewJob } from '../lib/backends/queue-backend.interface';
import { RedisBackend } from '../lib/backends/redis/redis.backend';
import { compareEventIds } from '../lib/events/event-id';
import type { AddOptions, JobEvent } from '../lib/interfaces/job.interface';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { normalizeAddOptions } from '../lib/validation/job-input.validator';
import { CapturingLogger, EventCollector } from './support/backend-collectors';
import { RedisServerHandle, startRedisServer } from './support/redis-server';

/**
 * Lazy event streams (scripts/includes/common.lua): a job whose history is only its first run has
 * no stream; its events are derived from its record, with the same ids for live subscribers, for
 * every read, and for the stream the first other event creates.
 */
describe('Redis lazy event streams', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  let b: RedisBackend;
  let testNo = 0;

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });

  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  beforeEach(async () => {
    b = new RedisBackend(
      resolveJobQueueOptions({ redis: server.url, prefix: `${server.prefix}-lazy-${++testNo}` }),
      new CapturingLogger(),
    );
    await b.start();
  });

  afterEach(async () => {
    await b.close();
  });

  function spec(name: string, opts?: AddOptions, createdAt = Date.now()): NewJob {
    const normalized = normalizeAddOptions(opts);
    return { id: normalized.jobId ?? randomUUID(), name, dataJson: '{}', opts: normalized, createdAt };
  }

  async function history(jobId: string): Promise<JobEvent[]> {
    return (await b.readEvents(jobId, '0', 1000)) ?? [];
  }

  /** The ids and types of a job's stream as stored on the server. */
  async function stored(jobId: string): Promise<string[]> {
    return (await admin.xrange(b.keys.events(jobId), '-', '+')).map(([id, fields]) => `${id} ${fields[1]}`);
  }

  function expectIncreasing(events: JobEvent[]): void {
    for (let i = 1; i < events.length; i++) expect(compareEventIds(events[i].id, events[i - 1].id)).toBeGreaterThan(0);
  }

  it('gives a job that only ran no stream, and the same events live, on read and newest first', async () => {
    const [job] = await b.add([spec('plain')]);
    const live = new EventCollector();
    b.subscribe(job.id, '0', live);
    await live.until(1);
    const { jobs } = await b.claim([{ name: 'plain', max: 1 }], 30_000);
    expect(await b.complete({ jobId: job.id, token: jobs[0].token }, '{"ok":1}')).toBe('completed');
    const seen = await live.until(3);

    expect(await admin.exists(b.keys.events(job.id))).toBe(0);
    const read = await history(job.id);
    expect(read).toEqual(seen);
    expect(read.map((e) => [e.type, e.data])).toEqual([
      ['queued', undefined],
      ['active', { attempt: 1 }],
      ['completed', { result: { ok: 1 } }],
    ]);
    expectIncreasing(read);
    const record = await admin.hmget(b.keys.job(job.id), 'createdAt', 'startedAt', 'finishedAt');
    expect(read.map((e) => e.at)).toEqual(record.map(Number));
    // Paging after an id, and the newest first (the dashboard's read).
    expect(await b.readEvents(job.id, read[0].id, 1)).toEqual([read[1]]);
    expect(await b.recentEvents(job.id, 2)).toEqual([read[2], read[1]]);
    // The record's retention is the history's retention.
    expect(await admin.pttl(b.keys.job(job.id))).toBeGreaterThan(0);
  });

  it('derives the data of a delayed, a failed and a cancelled job as their writers built it', async () => {
    const [delayed, failing, waiting] = await b.add([spec('d', { delayMs: 60_000 }), spec('f'), spec('c')]);
    const claimed = (await b.claim([{ name: 'f', max: 1 }], 30_000)).jobs[0];
    expect(await b.fail({ jobId: failing.id, token: claimed.token }, 'it "broke"', undefined)).toBe('failed');
    expect(await b.cancel(waiting.id, 'no longer needed', 'test')).toBe('cancelled');

    expect((await history(delayed.id)).map((e) => e.data)).toEqual([{ delayMs: 60_000 }]);
    expect((await history(failing.id)).map((e) => [e.type, e.data])).toEqual([
      ['queued', undefined],
      ['active', { attempt: 1 }],
      ['failed', { error: 'it "broke"' }],
    ]);
    expect((await history(waiting.id)).map((e) => [e.type, e.data])).toEqual([
      ['queued', undefined],
      ['cancelled', { reason: 'no longer needed' }],
    ]);
    for (const id of [delayed.id, failing.id, waiting.id]) expect(await admin.exists(b.keys.events(id))).toBe(0);
  });

  it('writes the derived events into a stream, same ids, at the first event the record cannot describe', async () => {
    const [job] = await b.add([spec('p', { attempts: 2 })]);
    const claimed = (await b.claim([{ name: 'p', max: 1 }], 30_000)).jobs[0];
    const before = await history(job.id);
    expect(await b.progress({ jobId: job.id, token: claimed.token }, '50')).toBe(true);
    expect(await stored(job.id)).toEqual([
      ...before.map((e) => `${e.id} ${e.type}`),
      expect.stringMatching(/ progress$/),
    ]);
    // From here on every event is appended, the lifecycle ones too.
    expect(await b.fail({ jobId: job.id, token: claimed.token }, 'once', 0)).toBe('retrying');
    const again = (await b.claim([{ name: 'p', max: 1 }], 30_000)).jobs[0];
    await b.complete({ jobId: job.id, token: again.token }, 'null');
    const all = await history(job.id);
    expect(all.slice(0, 2)).toEqual(before);
    expect(all.map((e) => e.type)).toEqual(['queued', 'active', 'progress', 'retrying', 'active', 'completed']);
    expect((await stored(job.id)).map((line) => line.split(' ')[1])).toEqual(all.map((e) => e.type));
    expectIncreasing(all);
    expect(await admin.pttl(b.keys.events(job.id))).toBeGreaterThan(0);
  });

  it('keeps the old run in the stream when a finished job is retried or handed back', async () => {
    const [done, running] = await b.add([spec('r'), spec('r')]);
    const { jobs } = await b.claim([{ name: 'r', max: 2 }], 30_000);
    await b.complete({ jobId: done.id, token: jobs[0].token }, '7');
    const run = await history(done.id);
    expect(await b.retry(done.id, 0)).toBe('retried');
    const retried = await history(done.id);
    expect(retried.slice(0, 3)).toEqual(run);
    expect(retried[3]).toMatchObject({ type: 'queued', data: { retried: true } });
    expect(await admin.pttl(b.keys.events(done.id))).toBe(-1);

    const started = await history(running.id);
    expect(await b.release({ jobId: running.id, token: jobs[1].token })).toBe('released');
    const released = await history(running.id);
    expect(released.slice(0, 2)).toEqual(started);
    expect(released[2]).toMatchObject({ type: 'queued', data: { released: true } });
  });

  it('keeps ids increasing when the producer clock is ahead of the worker and of Redis', async () => {
    const [job] = await b.add([spec('skew', undefined, Date.now() + 3_600_000)]);
    const claimed = (await b.claim([{ name: 'skew', max: 1 }], 30_000)).jobs[0];
    const derived = await history(job.id);
    expectIncreasing(derived);
    await b.progress({ jobId: job.id, token: claimed.token }, '1');
    await b.complete({ jobId: job.id, token: claimed.token }, 'null');
    const all = await history(job.id);
    expect(all.slice(0, 2)).toEqual(derived);
    expect(all.map((e) => e.type)).toEqual(['queued', 'active', 'progress', 'completed']);
    expectIncreasing(all);
  });

  it('derives ids from time fields that are not plain millisecond strings as whole, non-negative milliseconds', async () => {
    // The scripts use a plain decimal time as it is (no number conversion); others are converted.
    const [job] = await b.add([spec('odd-times', undefined, 1_700_000_000_000)]);
    const cases: Array<[createdAt: string, startedAt: string, ids: string[]]> = [
      ['1700000000123', '1700000000456', ['1700000000123-0', '1700000000456-0']],
      ['01700000000123', '1700000000123.9', ['1700000000123-0', '1700000000123-1']],
      ['1700000000999', '1700000000100', ['1700000000999-0', '1700000000999-1']],
      ['-5', 'not a time', ['0-1', '0-2']],
      ['99', '100', ['99-0', '100-0']],
      ['100', '99', ['100-0', '100-1']],
    ];
    for (const [createdAt, startedAt, ids] of cases) {
      await admin.hset(b.keys.job(job.id), 'createdAt', createdAt, 'startedAt', startedAt, 'attempt', '1');
      expect((await history(job.id)).map((e) => e.id)).toEqual(ids);
    }
  });
});
