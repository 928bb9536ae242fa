import { Injectable } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import fc from 'fast-check';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { firstValueFrom, timeout, TimeoutError, toArray } from 'rxjs';
import { Job, JobHandler, JobQueueModule, JobQueueService } from '../../lib';
import { RedisKeys } from '../../lib/backends/redis/redis-keys';
import { RedisServerHandle, startRedisServer } from '../support/redis-server';
import { CaseCounter, FUZZ_RUNS, FUZZ_TIMEOUT_MS, typedOutcome, validIdent } from './fuzz-inputs';
import { publishAsQueue } from '../support/redis-pubsub';

/**
 * Records, streams and channel messages planted directly in Redis, as another program, another
 * version or a damaged disk could leave them. Reading, cancelling or claiming such a job must give
 * a typed error or result, never WRONGTYPE or a Lua error, and the worker must keep running.
 */

jest.setTimeout(FUZZ_TIMEOUT_MS);

@Injectable()
class VictimHandlers {
  @JobHandler('victim', { concurrency: 2 })
  async victim(job: Job) {
    return { id: job.id };
  }
}

const RECORD_FIELDS = [
  'id',
  'name',
  'state',
  'data',
  'attempt',
  'attempts',
  'priority',
  'seq',
  'createdAt',
  'startedAt',
  'finishedAt',
  'token',
  'cancelRequested',
  'backoff',
  'timeoutMs',
  'watchClient',
  'progress',
  'result',
  'owner',
];
const fieldValue = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '1',
    '-1',
    'nan',
    'inf',
    '1e400',
    'waiting',
    'active',
    'delayed',
    'completed',
    'victim',
    '{',
    'null',
    '{"type":"fixed","delayMs":1}',
    '9007199254740993',
  ),
  fc.string({ maxLength: 20 }),
);
/** A job hash with a random subset of the record's fields holding random values. */
const damagedHash = fc.dictionary(fc.constantFrom(...RECORD_FIELDS), fieldValue, {
  minKeys: 0,
  maxKeys: RECORD_FIELDS.length,
});

/** What is planted under a job's key: a damaged hash, or a key of another type. */
const plantedRecord = fc.oneof(
  { arbitrary: damagedHash.map((fields) => ({ kind: 'hash' as const, fields })), weight: 3 },
  fc
    .constantFrom('string', 'list', 'set', 'zset', 'stream')
    .map((kind) => ({ kind, fields: {} as Record<string, string> })),
);
const plantedEvents = fc.constantFrom('none', 'string', 'hash', 'garbage-stream');

async function plantKey(admin: Redis, key: string, kind: string, fields: Record<string, string> = {}): Promise<void> {
  await admin.del(key);
  switch (kind) {
    case 'hash':
      if (Object.keys(fields).length > 0) await admin.hset(key, fields);
      return;
    case 'string':
      await admin.set(key, 'garbage');
      return;
    case 'list':
      await admin.rpush(key, 'garbage');
      return;
    case 'set':
      await admin.sadd(key, 'garbage');
      return;
    case 'zset':
      await admin.zadd(key, 1, 'garbage');
      return;
    case 'stream':
      await admin.xadd(key, '*', 'x', 'garbage');
      return;
    case 'garbage-stream':
      await admin.xadd(key, '*', 'd', '{not json');
      await admin.xadd(key, '*', 'zz', 'y', 't', '');
      return;
  }
}

describe('fuzz: corrupt data planted in Redis', () => {
  const counter = new CaseCounter('redis-corruption');
  let redis: RedisServerHandle;
  let admin: Redis;
  let moduleRef: TestingModule;
  let jobs: JobQueueService;
  let keys: RedisKeys;

  beforeAll(async () => {
    redis = await startRedisServer();
    admin = new Redis(redis.url);
    const prefix = `${redis.prefix}-cr-${randomUUID().slice(0, 8)}`;
    keys = new RedisKeys(prefix);
    moduleRef = await Test.createTestingModule({
      imports: [
        JobQueueModule.forRoot({
          redis: redis.url,
          prefix,
          cancelGraceMs: 100,
          drainTimeoutMs: 1_000,
          watchdog: { intervalMs: 60_000, clientTimeoutMs: 0 },
        }),
      ],
      providers: [VictimHandlers],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    jobs = moduleRef.get(JobQueueService);
  });
  afterAll(async () => {
    await moduleRef?.close();
    admin?.disconnect();
    await redis?.stop();
    counter.report();
  });

  it('reading, cancelling, streaming or re-adding a damaged job: a typed error or result', async () => {
    await fc.assert(
      fc.asyncProperty(validIdent, plantedRecord, plantedEvents, async (suffix, record, events) => {
        counter.tick();
        const id = `planted-${suffix}`;
        await plantKey(admin, keys.job(id), record.kind, record.fields);
        await plantKey(admin, keys.events(id), events);
        await typedOutcome(() => jobs.get(id));
        await typedOutcome(() => jobs.poll(id));
        await typedOutcome(() => jobs.touch(id));
        await typedOutcome(() =>
          firstValueFrom(jobs.events(id).pipe(timeout({ first: 20 }))).catch((err) => {
            if (err instanceof TimeoutError) return undefined;
            throw err;
          }),
        );
        await typedOutcome(() => jobs.waitFor(id, { timeoutMs: 1 }));
        await typedOutcome(() => jobs.cancel(id));
        await typedOutcome(() => jobs.add('idle', { n: 1 }, { jobId: id }));
        await typedOutcome(() => jobs.counts());
        await admin.del(keys.job(id), keys.events(id));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('a damaged job queued for a handler does not stop the worker: the next job completes', async () => {
    await fc.assert(
      fc.asyncProperty(validIdent, plantedRecord, async (suffix, record) => {
        counter.tick();
        const id = `queued-${suffix}`;
        await plantKey(admin, keys.job(id), record.kind, { ...record.fields, name: 'victim' });
        await admin.zadd(keys.waiting('victim'), 0, id);
        await admin.sadd(keys.names, 'victim');
        const next = await jobs.add('victim', null);
        await expect(jobs.waitFor(next.id, { timeoutMs: 10_000 })).resolves.toMatchObject({ state: 'completed' });
        await typedOutcome(() => jobs.get(id));
        await admin.del(keys.job(id), keys.events(id));
        await admin.zrem(keys.waiting('victim'), id);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('garbage on the cancel channel is counted in metrics().dispatcher.errors; garbage on an event channel leaves streams intact', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.string(), fc.constantFrom('{}', 'null', '[]', '{"jobId":1}', '1-0', '1-0 ', ' x')), {
          minLength: 1,
          maxLength: 5,
        }),
        async (garbage) => {
          counter.tick();
          const job = await jobs.add('idle', null);
          const seen = firstValueFrom(
            jobs
              .events(job.id)
              .pipe(timeout({ first: 5_000 }), toArray())
              .pipe(),
          ).catch(() => undefined);
          const before = (await jobs.metrics()).dispatcher.errors;
          for (const message of garbage) {
            await publishAsQueue(admin, keys.cancelChannel, message);
            await publishAsQueue(admin, keys.eventChannel(job.id), message);
          }
          // A message published after the garbage, and answered by the same subscriber connection, marks the end.
          await expect(jobs.cancel(job.id, 'fuzz')).resolves.toBe('cancelled');
          const events = await seen;
          expect(events?.map((event) => event.type)).toEqual(['queued', 'cancelled']);
          await eventually(async () => (await jobs.metrics()).dispatcher.errors === before + garbage.length);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });
});

/** Polls a condition that depends on a pub/sub delivery on another connection. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(await check()).toBe(true);
}
