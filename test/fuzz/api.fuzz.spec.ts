import { Injectable } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { firstValueFrom, timeout, TimeoutError } from 'rxjs';
import {
  AddOptions,
  InvalidJobError,
  Job,
  JobContext,
  JobHandler,
  JobQueueModule,
  JobQueueModuleOptions,
  JobQueueService,
} from '../../lib';
import { LIFECYCLE_EVENT_TYPES } from '../../lib/interfaces/job.interface';
import { RedisServerHandle, startRedisServer } from '../support/redis-server';
import {
  CaseCounter,
  FUZZ_RUNS,
  FUZZ_TIMEOUT_MS,
  addOptions,
  anything,
  eventIdLike,
  identLike,
  payload,
  typedOutcome,
  validIdent,
} from './fuzz-inputs';

/** What one fuzz-emit job does inside its handler, set by the test before the job is added. */
interface EmitCase {
  type: unknown;
  data: unknown;
  progress: unknown;
  outcome?: { emit: boolean; progress: boolean };
  error?: string;
}

const emitCases = new Map<string, EmitCase>();

@Injectable()
class FuzzHandlers {
  /** Calls ctx.emit / ctx.progress with the case's input; records whether each was accepted. */
  @JobHandler('fuzz-emit', { concurrency: 4 })
  async emit(job: Job, ctx: JobContext) {
    const fuzz = emitCases.get(job.id)!;
    try {
      const emitted = await typedOutcome(() => ctx.emit(fuzz.type as string, fuzz.data));
      const progressed = await typedOutcome(() => ctx.progress(fuzz.progress as number));
      fuzz.outcome = { emit: emitted.ok, progress: progressed.ok };
    } catch (err) {
      fuzz.error = (err as Error).message;
    }
    return 'done';
  }
}

jest.setTimeout(FUZZ_TIMEOUT_MS);

const DATA_LIMIT = 1024 * 1024;
let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describe.each([
  ['memory', (): JobQueueModuleOptions => ({})],
  [
    'redis',
    (): JobQueueModuleOptions => ({ redis: redis.url, prefix: `${redis.prefix}-fz-${randomUUID().slice(0, 8)}` }),
  ],
])('fuzz: public API on %s', (label, backendOptions) => {
  const counter = new CaseCounter(label);
  let moduleRef: TestingModule;
  let jobs: JobQueueService;
  /** Ids of jobs that exist, so reads and cancels also hit real jobs. */
  const known: string[] = [];
  const someId = fc.oneof(
    identLike,
    fc.integer({ min: 0, max: 1_000 }).map((i) => known[i % Math.max(known.length, 1)] ?? 'none'),
  );

  beforeAll(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [
        JobQueueModule.forRoot({
          maxPayloadBytes: DATA_LIMIT,
          cancelGraceMs: 100,
          drainTimeoutMs: 1_000,
          watchdog: { intervalMs: 60_000, clientTimeoutMs: 0 },
          ...backendOptions(),
        }),
      ],
      providers: [FuzzHandlers],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    jobs = moduleRef.get(JobQueueService);
  });
  afterAll(async () => {
    await moduleRef?.close();
    counter.report();
  });

  it('add: a job that reads back as given, or a typed error and nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(identLike, payload, addOptions, async (name, data, opts) => {
        counter.tick();
        const id = (opts as AddOptions | undefined)?.jobId;
        const existed = typeof id === 'string' ? await typedOutcome(() => jobs.get(id)) : undefined;
        const before = await jobs.counts();
        const out = await typedOutcome(() => jobs.add(name as string, data, opts as AddOptions));
        if (!out.ok) {
          expect(await jobs.counts()).toEqual(before);
          return;
        }
        known.push(out.value.id);
        const stored = await jobs.get(out.value.id);
        expect(stored).toMatchObject({ id: out.value.id, name: out.value.name });
        expect(stored!.data).toEqual(out.value.data);
        if (existed?.ok && existed.value === null) expect(stored!.data).toEqual(JSON.parse(JSON.stringify(data)));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('addBulk: all jobs added, or a typed error and none', async () => {
    const entry = fc.oneof(
      { arbitrary: fc.record({ name: validIdent, data: fc.jsonValue() }), weight: 3 },
      fc.record({ name: identLike, data: payload, opts: addOptions }),
      anything,
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(entry, { maxLength: 6 }), anything), async (input) => {
        counter.tick();
        const before = await jobs.counts();
        const out = await typedOutcome(() => jobs.addBulk(input as Parameters<JobQueueService['addBulk']>[0]));
        if (!out.ok) {
          expect(await jobs.counts()).toEqual(before);
          return;
        }
        expect(out.value).toHaveLength((input as unknown[]).length);
        for (const job of out.value) expect(await jobs.get(job.id)).not.toBeNull();
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('get, cancel, poll, touch, events, waitFor: a result or a typed error for any id, after and option', async () => {
    await fc.assert(
      fc.asyncProperty(someId, eventIdLike, anything, anything, async (id, after, reason, max) => {
        counter.tick();
        await typedOutcome(() => jobs.get(id as string));
        await typedOutcome(() => jobs.poll(id as string, { after: after as string, max: max as number }));
        await typedOutcome(() => jobs.poll(id as string, { after: after as string }));
        await typedOutcome(() => jobs.touch(id as string));
        const streamed = await typedOutcome(() =>
          firstValueFrom(jobs.events(id as string, { after: after as string }).pipe(timeout({ first: 300 }))).catch(
            (err) => {
              if (err instanceof TimeoutError) return undefined; // a live stream with nothing new yet
              throw err;
            },
          ),
        );
        if (streamed.ok && streamed.value) expect(streamed.value.jobId).toBe(id);
        await typedOutcome(() => jobs.waitFor(id as string, { timeoutMs: 1 }));
        const cancelled = await typedOutcome(() => jobs.cancel(id as string, reason as string));
        if (cancelled.ok)
          expect(['cancelled', 'cancelling', 'not_found', 'already_finished']).toContain(cancelled.value);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('ctx.emit and ctx.progress: accepted or a typed error inside the handler; the job still completes', async () => {
    const type = fc.oneof(identLike, fc.constantFrom(...LIFECYCLE_EVENT_TYPES));
    await fc.assert(
      fc.asyncProperty(type, fc.oneof(fc.constant(undefined), payload), payload, async (eventType, data, progress) => {
        counter.tick();
        const id = randomUUID();
        const fuzz: EmitCase = { type: eventType, data, progress };
        emitCases.set(id, fuzz);
        await jobs.add('fuzz-emit', null, { jobId: id });
        const finished = await jobs.waitFor(id, { timeoutMs: 10_000 });
        emitCases.delete(id);
        expect(fuzz.error).toBeUndefined();
        expect(finished.state).toBe('completed');
        if (fuzz.outcome!.emit) {
          const page = await jobs.poll(id);
          const custom = page.events.find((event) => event.type === eventType);
          expect(custom).toBeDefined();
          if (data !== undefined) expect(custom!.data).toEqual(JSON.parse(JSON.stringify(data)));
        }
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('data nested 10,000 levels deep is refused with InvalidJobError, not a stack overflow', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    await expect(jobs.add('deep', deep)).rejects.toBeInstanceOf(InvalidJobError);
    await expect(jobs.addBulk(null as never)).rejects.toBeInstanceOf(InvalidJobError);
    await expect(jobs.addBulk([null] as never)).rejects.toBeInstanceOf(InvalidJobError);
    await expect(jobs.add(10n as never, {})).rejects.toThrow(/Job name 10n is invalid/);
  });
});
