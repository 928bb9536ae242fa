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
  QueueFullError,
  compareEventIds,
} from '../../lib';
import { elapse, eventually } from '../support/deferred';
import { BackendOptions, QueueApp, createQueueApp } from './queue-app';

const types = (events: JobEvent[]) => events.map((e) => e.type);
const collect = (app: QueueApp, id: string, after?: string) => firstValueFrom(app.jobs.events(id, { after }).pipe(toArray()));

/**
 * The behaviour both backends must share. Each backend's spec file calls this once with the
 * options that select it; nothing here knows which backend runs.
 */
export function describeJobQueueContract(backendName: string, backendOptions: BackendOptions): void {
  describe(`JobQueue contract (${backendName})`, () => {
    const apps: QueueApp[] = [];
    const start = async (options: JobQueueModuleOptions = {}, extra?: { handlers?: boolean }) => {
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
        expect(added).toMatchObject({ name: 'echo', data: { n: 1 }, attempt: 0, attempts: 1, priority: 0, owner: 'user-1' });
        expect(['waiting', 'active', 'completed']).toContain(added.state);
        const done = await app.jobs.waitFor(added.id);
        expect(done).toMatchObject({ id: added.id, state: 'completed', attempt: 1, result: { echoed: { n: 1 }, attempt: 1 }, progress: 0.5 });
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
        expect(['waiting', 'active', 'completed']).toContain((await noWorker.jobs.get(other.id))!.state);
      });
    });

    describe('retries', () => {
      it('retries with backoff until an attempt succeeds', async () => {
        const app = await start();
        const job = await app.jobs.add('flaky', { failTimes: 2 }, { attempts: 3, backoff: { type: 'exponential', delayMs: 20, maxDelayMs: 30 } });
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
              if (e.type === 'completed') void Promise.resolve().then(() => app.jobs.add('echo', 2).then(resolve, reject));
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
        expect(history.length).toBeLessThan(503);
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
        ['circular data', (a) => { const o: Record<string, unknown> = {}; o.self = o; return a.jobs.add('echo', o); }],
        ['oversized data', (a) => a.jobs.add('echo', 'x'.repeat(2048))],
        ['timeout past the timer range', (a) => a.jobs.add('echo', {}, { timeoutMs: 2 ** 31 })],
        ['malformed get id', (a) => a.jobs.get('')],
        ['malformed after', (a) => a.jobs.poll('some-id', { after: 'yesterday' })],
      ];
      it.each(bad)('%s → InvalidJobError, nothing written', async (_label, act) => {
        const app = await start({ worker: false, maxPayloadBytes: 1024 });
        const error = await act(app).then(() => null, (err: unknown) => err);
        expect(error).toBeInstanceOf(InvalidJobError);
        expect((error as Error).message.length).toBeGreaterThan(20);
        expect(Object.values(await app.jobs.counts()).reduce((a, b) => a + b, 0)).toBe(0);
      });

      it('rejects with QueueFullError beyond maxWaiting and adds none of the batch', async () => {
        const app = await start({ worker: false, maxWaiting: 3 });
        await app.jobs.addBulk([{ name: 'echo', data: 1 }, { name: 'echo', data: 2 }]);
        await expect(app.jobs.addBulk([{ name: 'echo', data: 3 }, { name: 'echo', data: 4 }])).rejects.toBeInstanceOf(QueueFullError);
        expect((await app.jobs.counts()).waiting).toBe(2);
        await app.jobs.add('echo', 3);
        await expect(app.jobs.add('echo', 4, { delayMs: 1000 })).rejects.toBeInstanceOf(QueueFullError);
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
        expect((await app.jobs.metrics()).worker.outcomes.completed).toBe(1);
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
