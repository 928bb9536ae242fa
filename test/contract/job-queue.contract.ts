import { Logger } from '@nestjs/common';
import { firstValueFrom, toArray } from 'rxjs';
import {
  InvalidJobError,
  Job,
  JobAbortedError,
  JobEvent,
  JobHandler,
  JobNotFoundError,
  JobQueueModuleOptions,
  QueueDrainedError,
  JobListQuery,
  QueueFullError,
  compareEventIds,
} from '../../lib';

import { elapse, eventually } from '../support/deferred';
import { OnJobEvent, QueueJobEvent } from '../../lib';
import { JobScheduler } from '../../lib/schedules/job-scheduler.service';
import { HookProbe, hookProviders } from './contract-hooks';
import { BackendOptions, QueueApp, createQueueApp } from './queue-app';

const types = (events: JobEvent[]) => events.map((e) => e.type);
const collect = (app: QueueApp, id: string, after?: string) =>
  firstValueFrom(app.jobs.events(id, { after }).pipe(toArray()));

/**
 * The behaviour both backends must share. Each backend's spec file calls this once with the
 * options that select it; nothing here knows which backend runs.
 */
export function describeJobQueueContract(backendName: string, backendOptions: BackendOptions): void {
  describe(`JobQueue contract (${backendName})`, () => {
    const apps: QueueApp[] = [];
    const start = async (options: JobQueueModuleOptions = {}, extra?: Parameters<typeof createQueueApp>[2]) => {
      const app = await createQueueApp(backendOptions, options, extra);
      apps.push(app);
      return app;
    };
    afterEach(async () => {
      for (const app of apps.splice(0)) {
        // Let gated handlers finish so shutdown does not wait for the drain timeout.
        await app.close();
      }
    });

    describe('add and run', () => {
      it('runs a job and records result, timestamps and ordered lifecycle events', async () => {
        const app = await start();
        const added = await app.jobs.add('echo', { n: 1 }, { owner: 'user-1' });
        expect(added).toMatchObject({
          name: 'echo',
          data: { n: 1 },
          attempt: 0,
          attempts: 1,
          priority: 0,
          owner: 'user-1',
        });
        expect(added.state).toBe('waiting');
        const done = await app.jobs.waitFor(added.id);
        expect(done).toMatchObject({
          id: added.id,
          state: 'completed',
          attempt: 1,
          result: { echoed: { n: 1 }, attempt: 1 },
          progress: 0.5,
        });
        expect(done.startedAt).toBeGreaterThanOrEqual(done.createdAt);
        expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt!);
        const events = await collect(app, added.id);
        expect(types(events)).toEqual(['queued', 'active', 'token', 'progress', 'completed']);
        expect(events[2].data).toEqual({ text: 'hello' });
        expect(events[4].data).toMatchObject({ result: { echoed: { n: 1 }, attempt: 1 } });
        for (let i = 1; i < events.length; i++) expect(compareEventIds(events[i - 1].id, events[i].id)).toBeLessThan(0);
        expect(events.every((e) => e.jobId === added.id && typeof e.at === 'number')).toBe(true);
      });

      it('addBulk adds every job in order, and adds none when one is invalid', async () => {
        const app = await start({ worker: false });
        const jobs = await app.jobs.addBulk([
          { name: 'echo', data: 1 },
          { name: 'echo', data: 2, opts: { priority: 5 } },
        ]);
        expect(jobs.map((j) => j.data)).toEqual([1, 2]);
        await expect(
          app.jobs.addBulk([
            { name: 'echo', data: 3 },
            { name: 'echo', data: () => 4 },
          ]),
        ).rejects.toBeInstanceOf(InvalidJobError);
        expect((await app.jobs.counts()).waiting).toBe(2);
      });

      it('is idempotent on jobId while the job is unfinished, and replaces a finished one', async () => {
        const app = await start();
        const first = await app.jobs.add('gated', { v: 1 }, { jobId: 'build-42' });
        const again = await app.jobs.add('gated', { v: 2 }, { jobId: 'build-42' });
        expect(again.id).toBe('build-42');
        expect(again.data).toEqual({ v: 1 });
        expect(again.createdAt).toBe(first.createdAt);
        await app.probe.started.get('build-42').promise;
        app.probe.release.get('build-42').resolve('ok');
        await app.jobs.waitFor('build-42');
        expect(app.probe.runs.get('build-42')).toBe(1);
        const replaced = await app.jobs.add('echo', { v: 3 }, { jobId: 'build-42' });
        expect(replaced).toMatchObject({ id: 'build-42', data: { v: 3 }, attempt: 0 });
        expect((await app.jobs.waitFor('build-42')).result).toEqual({ echoed: { v: 3 }, attempt: 1 });
      });

      it('runs higher priority first and FIFO within a priority', async () => {
        const app = await start();
        const blocker = await app.jobs.add('serial', null);
        await app.probe.started.get(blocker.id).promise;
        const low = await app.jobs.add('serial', 'low', { priority: -1 });
        const mid1 = await app.jobs.add('serial', 'mid1');
        const high = await app.jobs.add('serial', 'high', { priority: 10 });
        const mid2 = await app.jobs.add('serial', 'mid2');
        for (const job of [blocker, high, mid1, mid2, low]) {
          await app.probe.started.get(job.id).promise;
          app.probe.release.get(job.id).resolve(job.data);
        }
        await app.jobs.waitFor(low.id);
        expect(app.probe.startOrder).toEqual([blocker.id, high.id, mid1.id, mid2.id, low.id]);
      });

      it('holds a delayed job until it is due', async () => {
        const app = await start();
        const job = await app.jobs.add('echo', 'later', { delayMs: 300 });
        expect(job.state).toBe('delayed');
        expect((await app.jobs.counts()).delayed).toBe(1);
        const done = await app.jobs.waitFor(job.id);
        expect(done.state).toBe('completed');
        expect(done.startedAt! - done.createdAt).toBeGreaterThanOrEqual(300);
      });

      it('keeps a job whose name has no handler here waiting', async () => {
        const app = await start();
        const job = await app.jobs.add('nobody-handles-this', {});
        expect((await app.jobs.get(job.id))!.state).toBe('waiting');
        const noWorker = await start({ worker: false });
        const other = await noWorker.jobs.add('echo', {});
        // A fresh queue (its own prefix on Redis) that no process works on.
        expect((await noWorker.jobs.get(other.id))!.state).toBe('waiting');
      });
    });

    describe('retries', () => {
      it('retries with backoff until an attempt succeeds', async () => {
        const app = await start();
        const job = await app.jobs.add(
          'flaky',
          { failTimes: 2 },
          { attempts: 3, backoff: { type: 'exponential', delayMs: 20, maxDelayMs: 30 } },
        );
        const done = await app.jobs.waitFor(job.id);
        expect(done).toMatchObject({ state: 'completed', attempt: 3, result: { attempt: 3 } });
        const retrying = (await collect(app, job.id)).filter((e) => e.type === 'retrying');
        expect(retrying.map((e) => e.data)).toEqual([
          { attempt: 1, delayMs: 20, error: 'boom 1' },
          { attempt: 2, delayMs: 30, error: 'boom 2' },
        ]);
      });

      it('fails the job once its attempts are used up', async () => {
        const app = await start();
        const job = await app.jobs.add('flaky', { failTimes: 5 }, { attempts: 2 });
        const done = await app.jobs.waitFor(job.id);
        expect(done).toMatchObject({ state: 'failed', attempt: 2, error: 'boom 2' });
        expect(types(await collect(app, job.id))).toEqual(['queued', 'active', 'retrying', 'active', 'failed']);
      });

      it('stores a long handler error truncated', async () => {
        const app = await start();
        const job = await app.jobs.add('flaky', { failTimes: 1, message: 'x'.repeat(100_000) });
        const done = await app.jobs.waitFor(job.id);
        expect(done.state).toBe('failed');
        expect(done.error!.length).toBeLessThan(5_000);
        expect(done.error).toMatch(/truncated\)$/);
      });

      it('aborts a handler after timeoutMs and fails the attempt', async () => {
        const app = await start();
        const job = await app.jobs.add('gated', null, { timeoutMs: 50 });
        const reason = (await app.probe.aborted.get(job.id).promise) as JobAbortedError;
        expect(reason).toBeInstanceOf(JobAbortedError);
        expect(reason.kind).toBe('timeout');
        const done = await app.jobs.waitFor(job.id);
        expect(done.state).toBe('failed');
        expect(done.error).toMatch(/timed out after 50 ms/);
      });
    });

    describe('cancel', () => {
      it('cancels waiting and delayed jobs at once; they never run', async () => {
        const app = await start();
        const waiting = await app.jobs.add('nobody-handles-this', {});
        const delayed = await app.jobs.add('echo', {}, { delayMs: 60_000 });
        expect(await app.jobs.cancel(waiting.id, 'user asked')).toBe('cancelled');
        expect(await app.jobs.cancel(delayed.id)).toBe('cancelled');
        expect(await app.jobs.get(waiting.id)).toMatchObject({ state: 'cancelled', cancelReason: 'user asked' });
        expect((await app.jobs.get(delayed.id))!.state).toBe('cancelled');
        expect(types(await collect(app, delayed.id))).toEqual(['queued', 'cancelled']);
        expect(app.probe.runs.get(delayed.id)).toBeUndefined();
      });

      it('aborts an active handler, ends the job cancelled and never retries it', async () => {
        const app = await start();
        const job = await app.jobs.add('gated', null, { attempts: 3 });
        const ctx = await app.probe.started.get(job.id).promise;
        expect(await app.jobs.cancel(job.id, 'stop it')).toBe('cancelling');
        const reason = (await app.probe.aborted.get(job.id).promise) as JobAbortedError;
        expect(ctx.signal.aborted).toBe(true);
        expect(reason).toMatchObject({ kind: 'cancel', reason: 'stop it' });
        const done = await app.jobs.waitFor(job.id);
        expect(done).toMatchObject({ state: 'cancelled', cancelReason: 'stop it', attempt: 1 });
        expect(app.probe.runs.get(job.id)).toBe(1);
        expect(types(await collect(app, job.id)).at(-1)).toBe('cancelled');
      });

      it('finishes a handler that ignores the signal as cancelled after cancelGraceMs and discards its late result', async () => {
        const app = await start({ cancelGraceMs: 100 });
        const job = await app.jobs.add('stubborn', null);
        await app.probe.started.get(job.id).promise;
        expect(await app.jobs.cancel(job.id)).toBe('cancelling');
        await app.probe.aborted.get(job.id).promise;
        const done = await app.jobs.waitFor(job.id);
        expect(done.state).toBe('cancelled');
        app.probe.release.get(job.id).resolve({ late: true });
        await app.probe.returned.get(job.id).promise;
        await new Promise((resolve) => setImmediate(resolve)); // the worker's settle handler has run
        expect(await app.jobs.get(job.id)).toMatchObject({ state: 'cancelled' });
        expect((await app.jobs.get(job.id))!.result).toBeUndefined();
      });

      it('answers already_finished, not_found, and refuses malformed ids', async () => {
        const app = await start();
        const job = await app.jobs.add('echo', {});
        await app.jobs.waitFor(job.id);
        expect(await app.jobs.cancel(job.id)).toBe('already_finished');
        expect(await app.jobs.cancel('no-such-job')).toBe('not_found');
        await expect(app.jobs.cancel('bad id with spaces')).rejects.toBeInstanceOf(InvalidJobError);
      });
    });

    describe('events', () => {
      it('resumes after an event id with exactly the missed events', async () => {
        const app = await start();
        const job = await app.jobs.add('chatty', { count: 10 });
        await app.jobs.waitFor(job.id);
        const all = await collect(app, job.id);
        expect(all).toHaveLength(13);
        const rest = await collect(app, job.id, all[4].id);
        expect(rest).toEqual(all.slice(5));
      });

      it('streams live events to a subscriber that joined before they happened', async () => {
        const app = await start();
        const job = await app.jobs.add('gated', null);
        const received: JobEvent[] = [];
        const ended = new Promise<void>((resolve, reject) =>
          app.jobs.events(job.id).subscribe({ next: (e) => received.push(e), error: reject, complete: resolve }),
        );
        const ctx = await app.probe.started.get(job.id).promise;
        await ctx.emit('step', { n: 1 });
        app.probe.release.get(job.id).resolve('done');
        await ended;
        expect(types(received)).toEqual(['queued', 'active', 'step', 'completed']);
      });

      it('completes at once when resumed at the terminal event (what an EventSource does after every finished stream)', async () => {
        const app = await start();
        const job = await app.jobs.add('echo', {});
        await app.jobs.waitFor(job.id);
        const all = await collect(app, job.id);
        expect(await collect(app, job.id, all.at(-1)!.id)).toEqual([]);
      });

      it('runs a job added from inside another job’s event callback (no lost wake-up)', async () => {
        const app = await start();
        const first = await app.jobs.add('echo', 1);
        const second = new Promise<Job>((resolve, reject) =>
          app.jobs.events(first.id).subscribe({
            next: (e) => {
              if (e.type === 'completed')
                void Promise.resolve().then(() => app.jobs.add('echo', 2).then(resolve, reject));
            },
          }),
        );
        const done = await app.jobs.waitFor((await second).id, { timeoutMs: 5_000 });
        expect(done.state).toBe('completed');
      });

      it('errors with JobNotFoundError for unknown jobs in events, poll and waitFor', async () => {
        const app = await start();
        await expect(collect(app, 'missing')).rejects.toBeInstanceOf(JobNotFoundError);
        await expect(app.jobs.poll('missing')).rejects.toBeInstanceOf(JobNotFoundError);
        await expect(app.jobs.waitFor('missing')).rejects.toBeInstanceOf(JobNotFoundError);
        expect(await app.jobs.get('missing')).toBeNull();
      });

      it('pages events with poll until done', async () => {
        const app = await start();
        const job = await app.jobs.add('chatty', { count: 5 });
        await app.jobs.waitFor(job.id);
        const seen: JobEvent[] = [];
        let page = await app.jobs.poll(job.id, { max: 3 });
        seen.push(...page.events);
        while (!page.done) {
          page = await app.jobs.poll(job.id, { after: page.next, max: 3 });
          seen.push(...page.events);
        }
        expect(types(seen)).toEqual(['queued', 'active', 'token', 'token', 'token', 'token', 'token', 'completed']);
        const after = await app.jobs.poll(job.id, { after: page.next });
        expect(after).toEqual({ events: [], next: page.next, done: true });
      });

      it('bounds the event history by events.maxLen', async () => {
        const app = await start({ events: { maxLen: 10 } });
        const job = await app.jobs.add('chatty', { count: 500 });
        await app.jobs.waitFor(job.id);
        const history = await collect(app, job.id);
        // Exact in memory; Redis trims whole stream nodes (MAXLEN ~, 100 entries each), so up to 100 more.
        expect(history.length).toBeGreaterThanOrEqual(10);
        expect(history.length).toBeLessThanOrEqual(10 + 100);
        expect(history.at(-1)!.type).toBe('completed');
      });

      it('refuses lifecycle event names in ctx.emit', async () => {
        const app = await start();
        const job = await app.jobs.add('reserved', null);
        expect((await app.jobs.waitFor(job.id)).result).toEqual({ threw: 'InvalidJobError' });
      });

      it('removes a finished job and its events after events.retentionMs', async () => {
        const app = await start({ events: { retentionMs: 200 } });
        const job = await app.jobs.add('echo', {});
        await app.jobs.waitFor(job.id);
        await eventually(async () => (await app.jobs.get(job.id)) === null);
        await expect(app.jobs.poll(job.id)).rejects.toBeInstanceOf(JobNotFoundError);
      });
    });

    describe('bad input changes nothing', () => {
      const bad: Array<[string, (app: QueueApp) => Promise<unknown>]> = [
        ['empty name', (a) => a.jobs.add('', {})],
        ['name with spaces', (a) => a.jobs.add('has space', {})],
        ['malformed jobId', (a) => a.jobs.add('echo', {}, { jobId: 'a/b c' })],
        ['fractional priority', (a) => a.jobs.add('echo', {}, { priority: 1.5 })],
        ['zero attempts', (a) => a.jobs.add('echo', {}, { attempts: 0 })],
        ['negative delay', (a) => a.jobs.add('echo', {}, { delayMs: -1 })],
        ['unknown option', (a) => a.jobs.add('echo', {}, { retries: 3 } as never)],
        ['bad backoff', (a) => a.jobs.add('echo', {}, { backoff: { type: 'linear', delayMs: 1 } as never })],
        ['function data', (a) => a.jobs.add('echo', { f: () => 1 })],
        ['BigInt data', (a) => a.jobs.add('echo', { n: BigInt(1) })],
        ['Date data', (a) => a.jobs.add('echo', { at: new Date() })],
        ['NaN data', (a) => a.jobs.add('echo', { n: NaN })],
        ['undefined data', (a) => a.jobs.add('echo', undefined)],
        [
          'circular data',
          (a) => {
            const o: Record<string, unknown> = {};
            o.self = o;
            return a.jobs.add('echo', o);
          },
        ],
        ['oversized data', (a) => a.jobs.add('echo', 'x'.repeat(2048))],
        ['timeout past the timer range', (a) => a.jobs.add('echo', {}, { timeoutMs: 2 ** 31 })],
        ['malformed get id', (a) => a.jobs.get('')],
        ['malformed after', (a) => a.jobs.poll('some-id', { after: 'yesterday' })],
      ];
      it.each(bad)('%s → InvalidJobError, nothing written', async (_label, act) => {
        const app = await start({ worker: false, maxPayloadBytes: 1024 });
        const error = await act(app).then(
          () => null,
          (err: unknown) => err,
        );
        expect(error).toBeInstanceOf(InvalidJobError);
        expect((error as Error).message.length).toBeGreaterThan(20);
        expect(Object.values(await app.jobs.counts()).reduce((a, b) => a + b, 0)).toBe(0);
      });

      it('rejects with QueueFullError beyond maxWaiting and adds none of the batch', async () => {
        // One name ('bounded'), so on a sharded queue (where maxWaiting bounds each shard) the spec can pin it.
        const app = await start({ worker: false, maxWaiting: 3 });
        await app.jobs.addBulk([
          { name: 'bounded', data: 1 },
          { name: 'bounded', data: 2 },
        ]);
        await expect(
          app.jobs.addBulk([
            { name: 'bounded', data: 3 },
            { name: 'bounded', data: 4 },
          ]),
        ).rejects.toBeInstanceOf(QueueFullError);
        expect((await app.jobs.counts()).waiting).toBe(2);
        await app.jobs.add('bounded', 3);
        await expect(app.jobs.add('bounded', 4, { delayMs: 1000 })).rejects.toBeInstanceOf(QueueFullError);
      });
    });

    describe('leases and the watchdog', () => {
      it('keeps the slot of a handler that ignores its signal past the grace until it settles, and says so once', async () => {
        const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
        try {
          const app = await start({ cancelGraceMs: 100 });
          const a = await app.jobs.add('solo', 'a', { timeoutMs: 200, attempts: 2 });
          const b = await app.jobs.add('solo', 'b');
          await app.probe.started.get(`${a.id}:1`).promise;
          // Timeout, then grace: the attempt fails and is retried, while its handler still runs.
          await eventually(async () => (await app.jobs.get(a.id))!.state === 'waiting' || undefined);
          const metrics = await app.jobs.metrics();
          expect(metrics.worker).toMatchObject({ overdue: 1, activeByName: { solo: 1 } });
          expect((await app.jobs.get(b.id))!.state).toBe('waiting');
          expect(app.probe.maxInFlight.get('solo')).toBe(1);
          const warnings = warn.mock.calls.filter(([message]) => String(message).includes(`'${a.id}'`));
          expect(warnings).toHaveLength(1);
          expect(String(warnings[0][0])).toMatch(/timeout not honoured within cancelGraceMs/);

          // The overdue handler settles: its slot frees, and the queue goes on one at a time.
          app.probe.release.get(`${a.id}:1`).resolve('late');
          await app.probe.started.get(`${b.id}:1`).promise;
          app.probe.release.get(`${b.id}:1`).resolve('b');
          await app.probe.started.get(`${a.id}:2`).promise;
          app.probe.release.get(`${a.id}:2`).resolve('a');
          expect(await app.jobs.waitFor(a.id)).toMatchObject({ state: 'completed', attempt: 2, result: 'a' });
          expect(app.probe.maxInFlight.get('solo')).toBe(1);
          expect((await app.jobs.metrics()).worker.overdue).toBe(0);
        } finally {
          warn.mockRestore();
        }
      });

      it('cancels a watchClient job whose client went silent, and leaves unwatched and touched jobs alone', async () => {
        const app = await start({ worker: false, watchdog: { intervalMs: 60_000, clientTimeoutMs: 150 } });
        const watched = await app.jobs.add('echo', {}, { watchClient: true });
        const touched = await app.jobs.add('echo', {}, { watchClient: true });
        const unwatched = await app.jobs.add('echo', {});
        await elapse(200); // the subject here is the client timeout elapsing
        await app.jobs.touch(touched.id);
        const sweep = await app.watchdog.sweep();
        expect(sweep.clientGone).toEqual([watched.id]);
        expect(await app.jobs.get(watched.id)).toMatchObject({ state: 'cancelled', cancelReason: 'client-gone' });
        expect((await app.jobs.get(touched.id))!.state).toBe('waiting');
        expect((await app.jobs.get(unwatched.id))!.state).toBe('waiting');
        expect(app.watchdog.stats()).toMatchObject({ sweeps: 1, clientGoneCancelled: 1 });
      });

      it('keeps a watched job alive while an event stream is open', async () => {
        const app = await start({ worker: false, watchdog: { intervalMs: 60_000, clientTimeoutMs: 150 } });
        const job = await app.jobs.add('echo', {}, { watchClient: true });
        const sub = app.jobs.events(job.id).subscribe();
        await elapse(250);
        expect((await app.watchdog.sweep()).clientGone).toEqual([]);
        sub.unsubscribe();
        await elapse(200);
        expect((await app.watchdog.sweep()).clientGone).toEqual([job.id]);
      });
    });

    describe('module lifecycle', () => {
      it('reports counts and a metrics snapshot', async () => {
        const app = await start();
        const job = await app.jobs.add('gated', null);
        await app.probe.started.get(job.id).promise;
        await app.jobs.add('nobody-handles-this', {});
        const metrics = await app.jobs.metrics();
        expect(metrics.counts).toMatchObject({ active: 1, waiting: 1 });
        expect(metrics.worker).toMatchObject({ active: 1, activeByName: { gated: 1 } });
        expect(metrics.dispatcher).toMatchObject({ subscribed: true });
        expect(metrics.added).toBe(2);
        app.probe.release.get(job.id).resolve(null);
        await app.jobs.waitFor(job.id);
        // The worker counts the outcome once its write returned, which may be just after waitFor saw it.
        await eventually(async () => (await app.jobs.metrics()).worker.outcomes.completed === 1 || undefined);
      });

      it('drains on shutdown: lets running jobs finish, then refuses new ones', async () => {
        const app = await start({ drainTimeoutMs: 5_000 });
        const job = await app.jobs.add('gated', null);
        await app.probe.started.get(job.id).promise;
        const closing = app.close();
        await eventually(() => app.jobs.isShuttingDown);
        await expect(app.jobs.add('echo', {})).rejects.toBeInstanceOf(QueueDrainedError);
        app.probe.release.get(job.id).resolve('finished during drain');
        await closing;
        expect(app.probe.runs.get(job.id)).toBe(1);
      });
    });

    describe('queue-wide events', () => {
      /** Collects queueEvents(filter) and resolves once the subscription is live (probe events of 'nobody-handles-this' jobs get through). */
      async function liveQueueEvents(app: QueueApp, filter?: Parameters<QueueApp['jobs']['queueEvents']>[0]) {
        const seen: QueueJobEvent[] = [];
        const probes: QueueJobEvent[] = [];
        const all = app.jobs.queueEvents().subscribe((e) => probes.push(e));
        const sub = app.jobs.queueEvents(filter).subscribe((e) => seen.push(e));
        // Pub/sub needs a moment to be live: until a probe's event arrives, nothing is promised.
        await eventually(async () => {
          const probe = await app.jobs.add('nobody-handles-this', null);
          return eventually(() => probes.some((e) => e.jobId === probe.id), 200).catch(() => false);
        });
        all.unsubscribe();
        return { seen, sub };
      }

      it('delivers every event of every job, lifecycle and custom, with the job name, in order per job', async () => {
        const app = await start();
        const { seen, sub } = await liveQueueEvents(app);
        const job = await app.jobs.add('echo', { n: 1 });
        await app.jobs.waitFor(job.id);
        await eventually(() => seen.some((e) => e.jobId === job.id && e.type === 'completed'));
        sub.unsubscribe();
        const mine = seen.filter((e) => e.jobId === job.id);
        expect(mine.map((e) => e.type)).toEqual(['queued', 'active', 'token', 'progress', 'completed']);
        expect(mine.every((e) => e.name === 'echo' && typeof e.at === 'number')).toBe(true);
        expect(mine[2].data).toEqual({ text: 'hello' });
        // The same events, ids included, as the job's own stream.
        expect(mine.map(({ name: _name, ...event }) => event)).toEqual(await collect(app, job.id));
      });

      it('filters by types and names, and stops delivering once unsubscribed', async () => {
        const app = await start();
        const { seen: failures, sub } = await liveQueueEvents(app, {
          types: ['failed', 'completed'],
          names: ['flaky'],
        });
        const { seen: dropped, sub: droppedSub } = await liveQueueEvents(app);
        droppedSub.unsubscribe();
        const echo = await app.jobs.add('echo', null);
        const flaky = await app.jobs.add('flaky', { failTimes: 5 });
        await Promise.all([app.jobs.waitFor(echo.id), app.jobs.waitFor(flaky.id)]);
        await eventually(() => failures.length > 0);
        sub.unsubscribe();
        expect(failures.map((e) => [e.jobId, e.name, e.type])).toEqual([[flaky.id, 'flaky', 'failed']]);
        expect(dropped.filter((e) => e.jobId === echo.id || e.jobId === flaky.id)).toEqual([]);
      });

      it('refuses a malformed filter', () => {
        return start({ worker: false }).then((app) => {
          expect(() => app.jobs.queueEvents({ types: ['no spaces allowed'] })).toThrow(InvalidJobError);
          expect(() => app.jobs.queueEvents({ names: ['bad name!'] })).toThrow(InvalidJobError);
          expect(() => app.jobs.queueEvents({ types: 'failed' as unknown as string[] })).toThrow(InvalidJobError);
        });
      });
    });

    describe('@OnJobEvent hooks', () => {
      it('calls each matching hook once per event with the event and the job after it; a throwing hook changes nothing', async () => {
        const probe = new HookProbe();
        const app = await start({}, { providers: hookProviders(probe) });
        const job = await app.jobs.add('echo', { n: 2 });
        await app.jobs.waitFor(job.id);
        await eventually(
          () =>
            probe.of(job.id, 'throwing').length === 1 &&
            probe.of(job.id, 'lifecycle').length === 3 &&
            probe.of(job.id, 'emitted').length === 2,
        );
        const lifecycle = probe.of(job.id, 'lifecycle');
        expect(lifecycle.map((c) => c.event.type).sort()).toEqual(['active', 'completed', 'queued']);
        const completed = lifecycle.find((c) => c.event.type === 'completed')!;
        expect(completed.job).toMatchObject({
          id: job.id,
          state: 'completed',
          result: { echoed: { n: 2 }, attempt: 1 },
        });
        expect(completed.event).toMatchObject({ jobId: job.id, type: 'completed' });
        const stream = await collect(app, job.id);
        // Hooks get the events as written (same ids as the job's stream).
        for (const call of probe.of(job.id)) expect(stream).toContainEqual(call.event);
        expect(
          probe
            .of(job.id, 'emitted')
            .map((c) => c.event.type)
            .sort(),
        ).toEqual(['progress', 'token']);
        expect(await app.jobs.get(job.id)).toMatchObject({ state: 'completed' });
      });

      it('filters hooks by job name, and runs hooks for failures and cancels', async () => {
        const probe = new HookProbe();
        const app = await start({}, { providers: hookProviders(probe) });
        const flaky = await app.jobs.add('flaky', { failTimes: 3, message: 'always' });
        const waiting = await app.jobs.add('nobody-handles-this', null);
        await app.jobs.waitFor(flaky.id);
        expect(await app.jobs.cancel(waiting.id, 'not needed')).toBe('cancelled');
        await eventually(
          () => probe.of(flaky.id, 'flakyFailed').length === 1 && probe.of(waiting.id, 'lifecycle').length === 2,
        );
        expect(probe.of(flaky.id, 'flakyFailed')[0]).toMatchObject({
          event: { type: 'failed', data: { error: 'always' } },
          job: { state: 'failed', error: 'always' },
        });
        expect(probe.of(waiting.id, 'lifecycle').map((c) => c.event.type)).toEqual(['queued', 'cancelled']);
        expect(probe.of(waiting.id, 'lifecycle')[1].job).toMatchObject({
          state: 'cancelled',
          cancelReason: 'not needed',
        });
        // An idempotent add of an unfinished job is no new event.
        await app.jobs.add('nobody-handles-this', null, { jobId: 'once' });
        await app.jobs.add('nobody-handles-this', null, { jobId: 'once' });
        await eventually(() => probe.of('once').length === 1);
        await app.close();
        expect(probe.of('once')).toHaveLength(1);
      });

      it('refuses a bad event type at decoration time', () => {
        expect(() => OnJobEvent('has space')).toThrow(InvalidJobError);
        expect(() => OnJobEvent('failed', { names: ['bad name!'] })).toThrow(InvalidJobError);
      });
    });

    describe('schedules', () => {
      const scheduler = (app: QueueApp) => app.moduleRef.get(JobScheduler);

      it('everyMs ticks at once and every everyMs after, one job per tick with a derived id, up to limit', async () => {
        const app = await start();
        const before = Date.now();
        const created = await app.jobs.schedule(
          'pulse',
          'echo',
          { beat: true },
          { everyMs: 150, limit: 2, job: { priority: 3 } },
        );
        expect(created).toMatchObject({
          id: 'pulse',
          name: 'echo',
          data: { beat: true },
          count: 0,
          opts: { everyMs: 150, limit: 2 },
        });
        expect(created.nextAt).toBeGreaterThanOrEqual(before);
        expect(created.nextAt).toBeLessThanOrEqual(Date.now());
        const first = created.nextAt!;
        const done = await eventually(async () => {
          const [listed] = await app.jobs.schedules();
          return listed.count === 2 ? listed : undefined;
        });
        expect(done!.nextAt).toBeUndefined();
        const jobs = await Promise.all([first, first + 150].map((tick) => app.jobs.waitFor(`sched:pulse:${tick}`)));
        expect(jobs.map((j) => [j.name, j.state, j.data, j.priority])).toEqual([
          ['echo', 'completed', { beat: true }, 3],
          ['echo', 'completed', { beat: true }, 3],
        ]);
        expect((await app.jobs.counts()).completed).toBe(2);
      });

      it('runs the ticks missed while no process ran once, together, then resumes after now', async () => {
        const app = await start({ worker: false });
        const now = Date.now();
        // As if every process had been down for 10 ticks: the stored next tick is long past.
        await app.backend.saveSchedule({
          id: 'missed',
          name: 'echo',
          dataJson: '1',
          opts: { everyMs: 1_000 },
          anchor: now - 10_000,
          rev: 'r1',
          count: 4,
          nextAt: now - 10_000,
        });
        scheduler(app).wake();
        const after = await eventually(async () => {
          const [listed] = await app.jobs.schedules();
          return listed?.count === 5 ? listed : undefined;
        });
        // The next tick is on the same grid, after the time it fired (>= now), at most one interval ahead.
        expect((after!.nextAt! - (now - 10_000)) % 1_000).toBe(0);
        expect(after!.nextAt!).toBeGreaterThan(now);
        expect(after!.nextAt!).toBeLessThanOrEqual(Date.now() + 1_000);
        expect(await app.jobs.get(`sched:missed:${now - 10_000}`)).toMatchObject({
          name: 'echo',
          state: 'waiting',
          data: 1,
        });
        expect((await app.jobs.counts()).waiting).toBe(1);
      });

      it('computes cron ticks in the time zone, replaces a schedule with the same id, and unschedules', async () => {
        const app = await start({ worker: false });
        const nightly = await app.jobs.schedule('nightly', 'echo', null, { cron: '0 3 * * *', tz: 'Europe/Berlin' });
        const berlin = new Intl.DateTimeFormat('en-GB', {
          timeZone: 'Europe/Berlin',
          hour: '2-digit',
          minute: '2-digit',
          hourCycle: 'h23',
        });
        expect(berlin.format(new Date(nightly.nextAt!))).toBe('03:00');
        expect(nightly.nextAt! - Date.now()).toBeGreaterThan(0);
        expect(nightly.nextAt! - Date.now()).toBeLessThanOrEqual(25 * 3_600_000);
        const replaced = await app.jobs.schedule('nightly', 'echo', { v: 2 }, { cron: '30 4 * * *' });
        expect(new Date(replaced.nextAt!).toISOString()).toMatch(/T04:30:00\.000Z$/);
        expect(await app.jobs.schedules()).toEqual([replaced]);
        expect(await app.jobs.unschedule('nightly')).toBe(true);
        expect(await app.jobs.unschedule('nightly')).toBe(false);
        expect(await app.jobs.schedules()).toEqual([]);
      });

      it('keeps a schedule registered again unchanged (count, next tick), and replaces it only when it differs', async () => {
        const app = await start({ worker: false });
        await app.jobs.schedule('hourly', 'echo', { v: 1 }, { everyMs: 3_600_000 });
        // It ticks at once (no startAt): one job, count 1, the next tick an hour on.
        const fired = await eventually(async () => (await app.jobs.schedules()).find((s) => s.count === 1));
        const again = await app.jobs.schedule('hourly', 'echo', { v: 1 }, { everyMs: 3_600_000 });
        expect(again).toEqual(fired);
        const changed = await app.jobs.schedule('hourly', 'echo', { v: 2 }, { everyMs: 3_600_000 });
        expect(changed).toMatchObject({ count: 0, data: { v: 2 } });
      });

      it('keeps a schedule past endAt listed with no nextAt', async () => {
        const app = await start({ worker: false });
        const now = Date.now();
        const ended = await app.jobs.schedule('over', 'echo', null, {
          everyMs: 1_000,
          startAt: now - 10_500,
          endAt: now - 1,
        });
        expect(ended.nextAt).toBeUndefined();
        expect(await app.jobs.schedules()).toEqual([
          {
            id: 'over',
            name: 'echo',
            data: null,
            opts: { everyMs: 1_000, startAt: now - 10_500, endAt: now - 1 },
            count: 0,
          },
        ]);
      });

      it('refuses a bad cron, a bad tz, both or neither of cron/everyMs, and stores nothing', async () => {
        const app = await start({ worker: false });
        const bad: Array<Parameters<QueueApp['jobs']['schedule']>[3]> = [
          { cron: '61 * * * *' },
          { cron: '* * *' },
          { cron: '0 3 * * *', tz: 'Mars/Olympus_Mons' },
          { cron: '0 3 * * *', everyMs: 1_000 },
          {},
          { everyMs: 0 },
          { everyMs: 1_000, limit: 0 },
          { everyMs: 1_000, job: { jobId: 'fixed' } as never },
        ];
        for (const opts of bad)
          await expect(app.jobs.schedule('bad', 'echo', null, opts)).rejects.toBeInstanceOf(InvalidJobError);
        await expect(app.jobs.schedule('bad id!', 'echo', null, { everyMs: 1_000 })).rejects.toBeInstanceOf(
          InvalidJobError,
        );
        expect(await app.jobs.schedules()).toEqual([]);
      });
    });

    describe('operations: list, retry, remove, clean', () => {
      /** Every page of a list, with the page sizes seen. */
      async function listAll(app: QueueApp, query: JobListQuery): Promise<{ jobs: Job[]; sizes: number[] }> {
        const jobs: Job[] = [];
        const sizes: number[] = [];
        let cursor = query.cursor;
        do {
          const page = await app.jobs.list({ ...query, cursor });
          jobs.push(...page.jobs);
          sizes.push(page.jobs.length);
          cursor = page.cursor;
        } while (cursor !== undefined);
        return { jobs, sizes };
      }
      const ids = (jobs: Job[]) => jobs.map((j) => j.id);
      /** Cancels waiting jobs one by one (a finished state without a worker). */
      async function cancelAll(app: QueueApp, jobIds: string[]): Promise<void> {
        for (const id of jobIds) expect(await app.jobs.cancel(id)).toBe('cancelled');
      }
      /** Newest first: finishedAt desc, then id desc (the documented order of finished states). */
      async function newestFirst(app: QueueApp, jobIds: string[]): Promise<string[]> {
        const jobs = await Promise.all(jobIds.map(async (id) => (await app.jobs.get(id))!));
        return ids(jobs.sort((a, b) => b.finishedAt! - a.finishedAt! || (a.id < b.id ? 1 : -1)));
      }

      it('lists waiting jobs in run order across names (priority desc, then FIFO), page by page', async () => {
        const app = await start({ worker: false });
        const jobs = await app.jobs.addBulk([
          { name: 'a', data: 1, opts: { jobId: 'w1' } },
          { name: 'b', data: 2, opts: { jobId: 'w2', priority: 5 } },
          { name: 'a', data: 3, opts: { jobId: 'w3', priority: -1 } },
          { name: 'b', data: 4, opts: { jobId: 'w4' } },
          { name: 'a', data: 5, opts: { jobId: 'w5', priority: 5 } },
        ]);
        await app.jobs.add('a', 'later', { jobId: 'd1', delayMs: 60_000 });
        const all = await listAll(app, { state: 'waiting', limit: 2 });
        expect(ids(all.jobs)).toEqual(['w2', 'w5', 'w1', 'w4', 'w3']);
        expect(all.sizes).toEqual([2, 2, 1]);
        expect(all.jobs[0]).toEqual(jobs[1]);
        expect(ids((await listAll(app, { state: 'waiting', name: 'a', limit: 1 })).jobs)).toEqual(['w5', 'w1', 'w3']);
        const one = await app.jobs.list({ state: 'waiting' });
        expect(one.cursor).toBeUndefined();
        expect(one.jobs).toHaveLength(5);
        expect(await app.jobs.list({ state: 'waiting', name: 'nobody' })).toEqual({ jobs: [] });
      });

      it('lists delayed jobs soonest due first', async () => {
        const app = await start({ worker: false });
        await app.jobs.add('a', 1, { jobId: 'late', delayMs: 90_000 });
        await app.jobs.add('b', 2, { jobId: 'soon', delayMs: 30_000 });
        await app.jobs.add('a', 3, { jobId: 'mid', delayMs: 60_000 });
        expect(ids((await listAll(app, { state: 'delayed', limit: 1 })).jobs)).toEqual(['soon', 'mid', 'late']);
        expect(ids((await listAll(app, { state: 'delayed', name: 'a' })).jobs)).toEqual(['mid', 'late']);
      });

      it('lists active jobs oldest start first', async () => {
        const app = await start();
        for (const id of ['act-1', 'act-2', 'act-3']) {
          await app.jobs.add('gated', null, { jobId: id });
          await app.probe.started.get(id).promise;
        }
        const all = await listAll(app, { state: 'active', limit: 2 });
        expect(ids(all.jobs)).toEqual(['act-1', 'act-2', 'act-3']);
        expect(all.jobs.every((j) => j.state === 'active')).toBe(true);
        expect(ids((await listAll(app, { state: 'active', name: 'echo' })).jobs)).toEqual([]);
        for (const id of ['act-1', 'act-2', 'act-3']) app.probe.release.get(id).resolve(id);
        await app.jobs.waitFor('act-3');
      });

      it('lists finished jobs newest first, by name too, page by page', async () => {
        const app = await start({ worker: false });
        const added = await app.jobs.addBulk(
          Array.from({ length: 7 }, (_, i) => ({ name: i % 2 ? 'odd' : 'even', data: i })),
        );
        await cancelAll(app, ids(added));
        const expected = await newestFirst(app, ids(added));
        expect(ids((await listAll(app, { state: 'cancelled', limit: 3 })).jobs)).toEqual(expected);
        const odd = new Set(ids(added.filter((j) => j.name === 'odd')));
        expect(ids((await listAll(app, { state: 'cancelled', name: 'odd', limit: 2 })).jobs)).toEqual(
          expected.filter((id) => odd.has(id)),
        );
        expect(await app.jobs.list({ state: 'failed' })).toEqual({ jobs: [] });
      });

      it('never repeats nor skips a job that stays in its state while others leave and join', async () => {
        const app = await start({ worker: false });
        const first = await app.jobs.addBulk(
          Array.from({ length: 6 }, (_, i) => ({ name: 'p', data: i, opts: { jobId: `p${i}` } })),
        );
        const page1 = await app.jobs.list({ state: 'waiting', limit: 2 });
        expect(ids(page1.jobs)).toEqual(['p0', 'p1']);
        await app.jobs.cancel('p1'); // the cursor's own job leaves
        await app.jobs.cancel('p3'); // a job not listed yet leaves
        await app.jobs.add('p', 'high', { jobId: 'p-high', priority: 9 }); // joins before the cursor
        await app.jobs.add('p', 'new', { jobId: 'p-new' }); // joins at the end
        const rest = await listAll(app, { state: 'waiting', limit: 2, cursor: page1.cursor });
        expect(ids(rest.jobs)).toEqual(['p2', 'p4', 'p5', 'p-new']);
        expect(first).toHaveLength(6);
      });

      it('refuses a limit outside 1..1000, a bad state and a cursor from another list', async () => {
        const app = await start({ worker: false });
        await app.jobs.addBulk([
          { name: 'a', data: 1 },
          { name: 'a', data: 2 },
        ]);
        const { cursor } = await app.jobs.list({ state: 'waiting', limit: 1 });
        expect(cursor).toEqual(expect.any(String));
        for (const query of [
          { state: 'waiting', limit: 0 },
          { state: 'waiting', limit: 1001 },
          { state: 'waiting', limit: 1.5 },
          { state: 'sleeping' },
          { state: 'waiting', name: 'bad name' },
          { state: 'delayed', cursor },
          { state: 'waiting', name: 'a', cursor },
          { state: 'waiting', cursor: 'garbage' },
        ]) {
          await expect(app.jobs.list(query as JobListQuery)).rejects.toBeInstanceOf(InvalidJobError);
        }
        expect((await app.jobs.list({ state: 'waiting', limit: 1000, cursor })).jobs).toHaveLength(1);
      });

      it('retries a failed job under the same id with fresh attempts; the stream replays the old run and follows the new one', async () => {
        const app = await start();
        const job = await app.jobs.add('doomed', { message: 'no' }, { attempts: 3 });
        expect(await app.jobs.waitFor(job.id)).toMatchObject({ state: 'failed', attempt: 1, error: 'no' });
        expect(await app.jobs.retry(job.id, { delayMs: 200 })).toBe('retried');
        const retried = (await app.jobs.get(job.id))!;
        expect(retried).toMatchObject({ id: job.id, state: 'delayed', attempt: 0, attempts: 3 });
        expect(retried.error).toBeUndefined();
        expect(retried.finishedAt).toBeUndefined();
        expect(retried.startedAt).toBeUndefined();
        // Opened while the job waits again: history holds the old terminal event, yet both wait for the new end.
        const [done, events] = await Promise.all([app.jobs.waitFor(job.id), collect(app, job.id)]);
        expect(done).toMatchObject({ state: 'failed', attempt: 1, error: 'no' });
        expect(types(events)).toEqual(['queued', 'active', 'failed', 'queued', 'active', 'failed']);
        expect(events[3].data).toEqual({ retried: true, delayMs: 200 });
        expect(app.probe.runs.get(job.id)).toBe(2);
        const page = await app.jobs.poll(job.id, { max: 3 });
        expect(page.done).toBe(false);
        expect((await app.jobs.poll(job.id, { after: page.next })).done).toBe(true);
      });

      it('retries a completed job: ctx.attempt starts at 1 again and the result is replaced', async () => {
        const app = await start();
        const job = await app.jobs.add('echo', 'x');
        await app.jobs.waitFor(job.id);
        expect(await app.jobs.retry(job.id)).toBe('retried');
        await eventually(async () => (await collect(app, job.id)).filter((e) => e.type === 'completed').length === 2);
        expect(await app.jobs.get(job.id)).toMatchObject({
          state: 'completed',
          attempt: 1,
          result: { echoed: 'x', attempt: 1 },
        });
        expect((await collect(app, job.id)).find((e) => e.type === 'queued' && e.data)?.data).toEqual({
          retried: true,
        });
      });

      it('queues a retried job behind the jobs already waiting, and clears its cancel reason', async () => {
        const app = await start({ worker: false });
        await app.jobs.addBulk(['r1', 'r2'].map((jobId) => ({ name: 'r', data: jobId, opts: { jobId } })));
        await app.jobs.cancel('r1', 'oops');
        await app.jobs.add('r', 'r3', { jobId: 'r3' });
        expect(await app.jobs.retry('r1')).toBe('retried');
        expect(ids((await app.jobs.list({ state: 'waiting' })).jobs)).toEqual(['r2', 'r3', 'r1']);
        const job = (await app.jobs.get('r1'))!;
        expect(job.state).toBe('waiting');
        expect(job.cancelReason).toBeUndefined();
        expect((await app.jobs.list({ state: 'cancelled' })).jobs).toEqual([]);
      });

      it('answers not_finished for waiting, delayed and active jobs, not_found for unknown ones', async () => {
        const app = await start();
        const waiting = await app.jobs.add('nobody-handles-this', {});
        const delayed = await app.jobs.add('echo', {}, { delayMs: 60_000 });
        const active = await app.jobs.add('gated', null);
        await app.probe.started.get(active.id).promise;
        for (const job of [waiting, delayed, active]) expect(await app.jobs.retry(job.id)).toBe('not_finished');
        expect(await app.jobs.retry('no-such-job')).toBe('not_found');
        await expect(app.jobs.retry('bad id')).rejects.toBeInstanceOf(InvalidJobError);
        await expect(app.jobs.retry(waiting.id, { delayMs: -1 })).rejects.toBeInstanceOf(InvalidJobError);
        app.probe.release.get(active.id).resolve(null);
        await app.jobs.waitFor(active.id);
      });

      it('removes waiting, delayed and finished jobs with their events; refuses active ones', async () => {
        const app = await start();
        const waiting = await app.jobs.add('nobody-handles-this', {});
        const delayed = await app.jobs.add('echo', {}, { delayMs: 60_000 });
        const finished = await app.jobs.add('echo', {});
        await app.jobs.waitFor(finished.id);
        const active = await app.jobs.add('gated', null);
        await app.probe.started.get(active.id).promise;
        for (const job of [waiting, delayed, finished]) {
          expect(await app.jobs.remove(job.id)).toBe('removed');
          expect(await app.jobs.get(job.id)).toBeNull();
          await expect(app.jobs.poll(job.id)).rejects.toBeInstanceOf(JobNotFoundError);
        }
        expect(await app.jobs.remove(active.id)).toBe('active');
        expect(await app.jobs.remove(waiting.id)).toBe('not_found');
        await expect(app.jobs.remove('')).rejects.toBeInstanceOf(InvalidJobError);
        expect(await app.jobs.counts()).toMatchObject({ waiting: 0, delayed: 0, active: 1, completed: 0 });
        expect((await app.jobs.list({ state: 'completed' })).jobs).toEqual([]);
        app.probe.release.get(active.id).resolve(null);
        await app.jobs.waitFor(active.id);
      });

      it('ends open streams and waitFor of a removed job with JobNotFoundError', async () => {
        const app = await start({ worker: false });
        const job = await app.jobs.add('echo', {});
        const queued = new Promise<void>((resolve) =>
          app.jobs.events(job.id).subscribe({ next: () => resolve(), error: () => undefined }),
        );
        // Rejections caught at once: the 'removed' message may end them before remove() returns.
        const ended = firstValueFrom(app.jobs.events(job.id).pipe(toArray())).catch((err: unknown) => err);
        const waited = app.jobs.waitFor(job.id).catch((err: unknown) => err);
        await queued;
        expect(await app.jobs.remove(job.id)).toBe('removed');
        expect(await ended).toBeInstanceOf(JobNotFoundError);
        expect(await waited).toBeInstanceOf(JobNotFoundError);
        // The id is free again.
        expect((await app.jobs.add('echo', 'again', { jobId: job.id })).data).toBe('again');
      });

      it('cleans finished jobs by state, age, name and limit, and counts them', async () => {
        const app = await start({ worker: false });
        const added = await app.jobs.addBulk(
          Array.from({ length: 9 }, (_, i) => ({ name: i < 6 ? 'a' : 'b', data: i })),
        );
        await cancelAll(app, ids(added));
        const keep = await app.jobs.add('a', 'waiting');
        expect(await app.jobs.clean({ state: 'cancelled', olderThanMs: 3_600_000 })).toBe(0);
        expect(await app.jobs.clean({ state: 'completed' })).toBe(0);
        expect(await app.jobs.clean({ state: 'cancelled', name: 'b' })).toBe(3);
        const oldestA = [...(await newestFirst(app, ids(added.slice(0, 6))))].reverse();
        expect(await app.jobs.clean({ state: 'cancelled', limit: 2 })).toBe(2);
        expect(ids((await listAll(app, { state: 'cancelled' })).jobs).sort()).toEqual(oldestA.slice(2).sort());
        expect(await app.jobs.clean({ state: 'cancelled' })).toBe(4);
        expect(await app.jobs.counts()).toMatchObject({ waiting: 1, cancelled: 0 });
        expect(await app.jobs.get(keep.id)).not.toBeNull();
        for (const query of [
          { state: 'waiting' },
          { state: 'failed', olderThanMs: -1 },
          { state: 'failed', limit: 0 },
          { state: 'failed', name: '' },
        ]) {
          await expect(app.jobs.clean(query as never)).rejects.toBeInstanceOf(InvalidJobError);
        }
      });

      it('cleans more finished jobs than one batch holds', async () => {
        const app = await start({ worker: false });
        const added = await app.jobs.addBulk(Array.from({ length: 1_200 }, (_, i) => ({ name: 'bulk', data: i })));
        await Promise.all(added.map((job) => app.jobs.cancel(job.id)));
        expect(await app.jobs.clean({ state: 'cancelled', limit: 1_100 })).toBe(1_100);
        expect((await app.jobs.counts()).cancelled).toBe(100);
        expect(await app.jobs.clean({ state: 'cancelled' })).toBe(100);
      });

      it('times waitFor out on a retried job that does not finish, though its history holds a terminal event', async () => {
        const app = await start({ worker: false });
        const job = await app.jobs.add('echo', {});
        await app.jobs.cancel(job.id);
        expect(await app.jobs.retry(job.id)).toBe('retried');
        await expect(app.jobs.waitFor(job.id, { timeoutMs: 100 })).rejects.toThrow(/did not finish within 100 ms/);
        expect((await app.jobs.get(job.id))!.state).toBe('waiting');
      });

      it('fails a job at once when its handler throws UnrecoverableJobError, whatever attempts remain', async () => {
        const app = await start();
        const job = await app.jobs.add(
          'doomed',
          { message: 'bad address' },
          { attempts: 5, backoff: { type: 'fixed', delayMs: 10 } },
        );
        const done = await app.jobs.waitFor(job.id);
        expect(done).toMatchObject({ state: 'failed', attempt: 1, error: 'bad address' });
        expect(types(await collect(app, job.id))).toEqual(['queued', 'active', 'failed']);
        expect(app.probe.runs.get(job.id)).toBe(1);
      });
    });

    describe('operations: pause, rate limits', () => {
      it('pauses one name: its jobs wait (adds accepted) while other names run, and resume starts them', async () => {
        const app = await start();
        await app.jobs.pause('gated');
        expect(await app.jobs.isPaused('gated')).toBe(true);
        expect(await app.jobs.isPaused()).toBe(false);
        expect(await app.jobs.isPaused('echo')).toBe(false);
        const held = await app.jobs.add('gated', 'held');
        // The worker claims every name in one call: had 'gated' not been paused, it would have started by now.
        expect((await app.jobs.waitFor((await app.jobs.add('echo', 1)).id)).state).toBe('completed');
        expect(await app.jobs.get(held.id)).toMatchObject({ state: 'waiting', attempt: 0 });
        expect(app.probe.runs.get(held.id)).toBeUndefined();
        expect((await app.jobs.metrics()).paused).toEqual({ queue: false, names: ['gated'] });
        await app.jobs.resume('gated');
        expect(await app.jobs.isPaused('gated')).toBe(false);
        await app.probe.started.get(held.id).promise;
        app.probe.release.get(held.id).resolve('ran');
        expect(await app.jobs.waitFor(held.id)).toMatchObject({ state: 'completed', result: 'ran' });
        expect((await app.jobs.metrics()).paused).toEqual({ queue: false, names: [] });
      });

      it('pauses the whole queue: running jobs finish, nothing starts until both levels are resumed', async () => {
        const app = await start();
        const running = await app.jobs.add('gated', 'running');
        await app.probe.started.get(running.id).promise;
        await app.jobs.pause();
        await app.jobs.pause('echo');
        expect(await app.jobs.isPaused()).toBe(true);
        expect(await app.jobs.isPaused('gated')).toBe(true);
        const echo = await app.jobs.add('echo', 'queued while paused');
        const gated = await app.jobs.add('gated', 'queued while paused');
        app.probe.release.get(running.id).resolve('finished');
        expect(await app.jobs.waitFor(running.id)).toMatchObject({ state: 'completed', result: 'finished' });
        await app.jobs.resume();
        // 'echo' is still paused on its own; 'gated' runs again.
        await app.probe.started.get(gated.id).promise;
        expect(await app.jobs.isPaused('echo')).toBe(true);
        expect((await app.jobs.metrics()).paused).toEqual({ queue: false, names: ['echo'] });
        expect((await app.jobs.get(echo.id))!.state).toBe('waiting');
        await app.jobs.resume('echo');
        expect((await app.jobs.waitFor(echo.id)).state).toBe('completed');
        app.probe.release.get(gated.id).resolve(null);
      });

      it('refuses a malformed name and lets resume of what is not paused change nothing', async () => {
        const app = await start({ worker: false });
        await expect(app.jobs.pause('bad name')).rejects.toBeInstanceOf(InvalidJobError);
        await expect(app.jobs.isPaused('')).rejects.toBeInstanceOf(InvalidJobError);
        await expect(app.jobs.resume('x'.repeat(101))).rejects.toBeInstanceOf(InvalidJobError);
        await app.jobs.resume('echo');
        await app.jobs.resume();
        expect((await app.jobs.metrics()).paused).toEqual({ queue: false, names: [] });
      });

      it('rateLimit: never more than max starts in any window; held jobs stay waiting and all run', async () => {
        const app = await start();
        const added = await app.jobs.addBulk(Array.from({ length: 7 }, (_, i) => ({ name: 'throttled', data: i })));
        const done = await Promise.all(added.map((job) => app.jobs.waitFor(job.id)));
        expect(done.every((job) => job.state === 'completed' && job.attempt === 1)).toBe(true);
        const starts = done.map((job) => job.startedAt!).sort((a, b) => a - b);
        // { max: 2, perMs: 300 }: any 3 consecutive starts span at least 300 ms.
        for (let i = 2; i < starts.length; i++) expect(starts[i] - starts[i - 2]).toBeGreaterThanOrEqual(300);
        // Held back, not moved around: each job went straight from queued to active.
        for (const job of added) expect(types(await collect(app, job.id))).toEqual(['queued', 'active', 'completed']);
      });

      it('globalConcurrency: never more running than the limit, though local concurrency allows more; a freed slot starts the next', async () => {
        const app = await start();
        const added = await app.jobs.addBulk(Array.from({ length: 5 }, (_, i) => ({ name: 'capped', data: i })));
        await app.probe.started.get(added[0].id).promise;
        await app.probe.started.get(added[1].id).promise;
        for (let i = 0; i < added.length; i++) {
          // Job i+2 can only start once job i ended.
          app.probe.release.get(added[i].id).resolve(i);
          await app.jobs.waitFor(added[i].id);
          if (i + 2 < added.length) await app.probe.started.get(added[i + 2].id).promise;
        }
        expect(app.probe.maxInFlight.get('capped')).toBe(2);
        expect(app.probe.startOrder).toEqual(added.map((job) => job.id));
      });

      it('refuses bad rateLimit and globalConcurrency options at decoration', () => {
        expect(() => JobHandler('x', { rateLimit: { max: 0, perMs: 1_000 } })).toThrow(/rateLimit must be/);
        expect(() => JobHandler('x', { rateLimit: { max: 1, perMs: 1.5 } })).toThrow(/rateLimit must be/);
        expect(() => JobHandler('x', { rateLimit: null as never })).toThrow(/rateLimit must be/);
        expect(() => JobHandler('x', { globalConcurrency: 0 })).toThrow(/globalConcurrency must be/);
        expect(() => JobHandler('x', { globalConcurrency: 2, rateLimit: { max: 5, perMs: 1_000 } })).not.toThrow();
      });
    });
  });
}

export type { Job };
