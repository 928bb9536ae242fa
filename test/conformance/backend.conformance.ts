import { randomUUID } from 'node:crypto';
import type { ClaimedJob, Lease, NewJob, QueueBackend } from '../../lib/backends/queue-backend.interface';
import { Messages } from '../../lib/errors/job-queue.messages';
import { compareEventIds } from '../../lib/events/event-id';
import type { AddOptions } from '../../lib/interfaces/job.interface';
import type { JobQueueModuleOptions } from '../../lib/job-queue.options';
import { normalizeAddOptions } from '../../lib/validation/job-input.validator';
import { elapse } from '../support/deferred';

/** How a backend's spec file plugs into the conformance suite. */
export interface BackendHarness {
  /** A started backend on a fresh, empty queue; the suite closes it. */
  create(options?: JobQueueModuleOptions): Promise<QueueBackend>;
  /** Pretends `n` queue positions were handed out already (the Redis `seq` key). */
  setSequence(backend: QueueBackend, n: number): Promise<void>;
  /**
   * Whether an expired lease is reclaimed: true on Redis (another process may take the job over),
   * false in memory (no job stalls while its process lives).
   */
  leasesExpire: boolean;
}

/**
 * The fine semantics of the `QueueBackend` contract, written once and run against every backend
 * (memory, Redis, Redis Cluster): ordering, wrap, release, reclaim, fencing, cancel races, touch.
 * The service-level behaviour lives in the contract suite (test/contract/); a backend's own spec
 * keeps only what is specific to it (connections, reconnects, ACL, corrupt records).
 */
export function describeBackendConformance(name: string, harness: BackendHarness): void {
  describe(`QueueBackend conformance (${name})`, () => {
    let open: QueueBackend[] = [];
    afterEach(async () => {
      await Promise.all(open.map((b) => b.close()));
      open = [];
    });

    async function backend(options?: JobQueueModuleOptions): Promise<QueueBackend> {
      const b = await harness.create(options);
      open.push(b);
      return b;
    }

    function spec(jobName: string, data: unknown = null, opts?: AddOptions): NewJob {
      const normalized = normalizeAddOptions(opts);
      return { id: normalized.jobId ?? randomUUID(), name: jobName, dataJson: JSON.stringify(data), opts: normalized, createdAt: Date.now() };
    }

    async function claimAll(b: QueueBackend, jobName: string, max = 100): Promise<ClaimedJob[]> {
      return (await b.claim([{ name: jobName, max }], 30_000)).jobs;
    }

    async function claimOne(b: QueueBackend, jobName: string): Promise<ClaimedJob> {
      const jobs = await claimAll(b, jobName, 1);
      expect(jobs).toHaveLength(1);
      return jobs[0];
    }

    const leaseOf = (claimed: ClaimedJob): Lease => ({ jobId: claimed.job.id, token: claimed.token });
    const dataOf = (jobs: ClaimedJob[]) => jobs.map((j) => j.job.data);

    async function types(b: QueueBackend, jobId: string): Promise<string[]> {
      return ((await b.readEvents(jobId, '0', 1000)) ?? []).map((e) => e.type);
    }

    /** Waits (real time: a due time is a time) until `at` has passed. */
    async function until(at: number): Promise<void> {
      while (Date.now() <= at) await elapse(at - Date.now() + 1);
    }

    describe('ordering', () => {
      it('claims by priority (higher first), FIFO within a priority, several per call', async () => {
        const b = await backend();
        await b.add([
          spec('w', 'a'),
          spec('w', 'b'),
          spec('w', 'c', { priority: 5 }),
          spec('w', 'd', { priority: -1 }),
          spec('w', 'e', { priority: 5 }),
          spec('w', 'f', { priority: 1_000_000 }),
          spec('w', 'g', { priority: -1_000_000 }),
        ]);
        const jobs = await claimAll(b, 'w');
        expect(dataOf(jobs)).toEqual(['f', 'c', 'e', 'a', 'b', 'd', 'g']);
        expect(new Set(jobs.map((j) => j.token)).size).toBe(7);
        expect(jobs[0].job).toMatchObject({ state: 'active', attempt: 1, startedAt: expect.any(Number) });
        expect(await types(b, jobs[0].job.id)).toEqual(['queued', 'active']);
      });

      it('keeps FIFO across 2^32 queue positions (no counter wrap)', async () => {
        const b = await backend();
        await harness.setSequence(b, 2 ** 32 - 5);
        for (let i = 1; i <= 8; i++) await b.add([spec('wrap', i)]);
        await b.add([spec('wrap', 'high', { priority: 1 })]);
        expect(dataOf(await claimAll(b, 'wrap'))).toEqual(['high', 1, 2, 3, 4, 5, 6, 7, 8]);
      });

      it('queues a due delayed job behind the jobs already waiting at its priority, due jobs in due order', async () => {
        const b = await backend();
        const [first] = await b.add([spec('d', 'w1')]);
        await b.add([spec('d', 'late', { delayMs: 60 }), spec('d', 'early', { delayMs: 30 })]);
        await b.add([spec('d', 'w2')]);
        await until(first.createdAt + 61);
        await b.add([spec('d', 'w3')]);
        // w3 was added after both became due, but no claim had promoted them yet: they became ready
        // when a claim saw them due, behind w3 too. What counts is that due jobs never jump ahead of
        // jobs that were waiting before they were due, and keep their due order among themselves.
        const order = dataOf(await claimAll(b, 'd'));
        expect(order.slice(0, 2)).toEqual(['w1', 'w2']);
        expect(order.indexOf('early')).toBeLessThan(order.indexOf('late'));
        expect(order).toHaveLength(5);
      });

      it('queues a retry behind the jobs already waiting at its priority', async () => {
        const b = await backend();
        await b.add([spec('r', 'retried', { attempts: 2 })]);
        const claimed = await claimOne(b, 'r');
        await b.add([spec('r', 'x'), spec('r', 'y')]);
        expect(await b.fail(leaseOf(claimed), 'boom', 0)).toBe('retrying');
        const next = await claimAll(b, 'r');
        expect(dataOf(next)).toEqual(['x', 'y', 'retried']);
        expect(next[2].job.attempt).toBe(2);
      });

      it('hands a released job back to the front of its priority, attempt not used, hand-backs in their old order', async () => {
        const b = await backend();
        await b.add([spec('h', 1), spec('h', 2), spec('h', 3), spec('h', 'top', { priority: 9 })]);
        const [top, one, two] = await claimAll(b, 'h', 3);
        expect(dataOf([top, one, two])).toEqual(['top', 1, 2]);
        expect(await b.release(leaseOf(two))).toBe('released');
        expect(await b.release(leaseOf(one))).toBe('released');
        await b.add([spec('h', 4)]);
        expect(await b.get(one.job.id)).toMatchObject({ state: 'waiting', attempt: 0 });
        expect((await b.readEvents(one.job.id, '0', 10))!.at(-1)).toMatchObject({ type: 'queued', data: { released: true } });
        const next = await claimAll(b, 'h');
        expect(dataOf(next)).toEqual([1, 2, 3, 4]);
        expect(next[0].job.attempt).toBe(1);
        // Still below a higher priority: the front is per priority.
        expect(await b.release(leaseOf(top))).toBe('released');
        await b.add([spec('h', 'higher', { priority: 10 })]);
        expect(dataOf(await claimAll(b, 'h'))).toEqual(['higher', 'top']);
      });
    });

    describe('cancel races: a requested cancel always wins', () => {
      it('release of a job with a pending cancel finishes it cancelled', async () => {
        const b = await backend();
        const [job] = await b.add([spec('c')]);
        const claimed = await claimOne(b, 'c');
        expect(await b.cancel(job.id, 'stop', 'origin')).toBe('cancelling');
        expect(await b.release(leaseOf(claimed))).toBe('cancelled');
        expect(await b.get(job.id)).toMatchObject({ state: 'cancelled', cancelReason: 'stop' });
        expect(await claimAll(b, 'c')).toHaveLength(0);
      });

      it('complete after a cancel answered cancelling ends the job cancelled and discards the result', async () => {
        const b = await backend();
        const [job] = await b.add([spec('c')]);
        const claimed = await claimOne(b, 'c');
        expect(await b.cancel(job.id, 'late', 'origin')).toBe('cancelling');
        expect(await b.complete(leaseOf(claimed), '{"ok":true}')).toBe('cancelled');
        const after = await b.get(job.id);
        expect(after).toMatchObject({ state: 'cancelled', cancelReason: 'late' });
        expect(after!.result).toBeUndefined();
        expect(await types(b, job.id)).toEqual(['queued', 'active', 'cancelled']);
      });

      it('fail after a cancel ends the job cancelled (never retried) and says so', async () => {
        const b = await backend();
        const [job] = await b.add([spec('c', null, { attempts: 3 })]);
        const claimed = await claimOne(b, 'c');
        expect(await b.cancel(job.id, 'no', 'origin')).toBe('cancelling');
        expect(await b.fail(leaseOf(claimed), 'boom', 0)).toBe('cancelled');
        expect(await b.get(job.id)).toMatchObject({ state: 'cancelled', cancelReason: 'no' });
      });

      it('cancels waiting and delayed jobs at once; reports finished and unknown ones', async () => {
        const b = await backend();
        const [w, d, other] = await b.add([spec('c'), spec('c', null, { delayMs: 60_000 }), spec('c')]);
        expect(await b.cancel(w.id, 'a', 'o')).toBe('cancelled');
        expect(await b.cancel(d.id, 'b', 'o')).toBe('cancelled');
        expect(await b.cancel(w.id, 'again', 'o')).toBe('already_finished');
        expect(await b.cancel('nope', 'x', 'o')).toBe('not_found');
        expect(await b.get(d.id)).toMatchObject({ state: 'cancelled', cancelReason: 'b' });
        // The cancelled waiting job left its queue: only the other one is claimed.
        expect((await claimAll(b, 'c')).map((j) => j.job.id)).toEqual([other.id]);
        expect(await b.counts()).toMatchObject({ waiting: 0, delayed: 0, active: 1, cancelled: 2 });
      });

      it('reports a pending cancel to the lease renewal and to cancelRequests', async () => {
        const b = await backend();
        const [job] = await b.add([spec('c')]);
        const claimed = await claimOne(b, 'c');
        expect(await b.heartbeat([leaseOf(claimed)], 30_000)).toEqual([{ status: 'ok' }]);
        await b.cancel(job.id, 'first', 'o');
        await b.cancel(job.id, 'second', 'o');
        expect(await b.heartbeat([leaseOf(claimed)], 30_000)).toEqual([{ status: 'cancel', reason: 'first' }]);
        expect(await b.cancelRequests([job.id, 'unknown'])).toEqual(['first', null]);
        expect(await b.finishCancelled(leaseOf(claimed), 'first')).toBe(true);
        expect(await b.get(job.id)).toMatchObject({ state: 'cancelled', cancelReason: 'first' });
      });
    });

    describe('fencing', () => {
      it('refuses every write with a stale token once the job was handed to a new claim', async () => {
        const b = await backend();
        const [job] = await b.add([spec('f', null, { attempts: 2 })]);
        const first = await claimOne(b, 'f');
        expect(await b.release(leaseOf(first))).toBe('released');
        const second = await claimOne(b, 'f');
        expect(second.token).not.toBe(first.token);
        const stale = leaseOf(first);
        const live = leaseOf(second);
        expect(await b.complete(stale, '1')).toBe('lost');
        expect(await b.fail(stale, 'boom', 0)).toBe('lost');
        expect(await b.finishCancelled(stale, 'x')).toBe(false);
        expect(await b.release(stale)).toBe('lost');
        await b.progress(stale, '0.5');
        await b.emit(stale, 'token', '"stale"');
        expect(await b.heartbeat([stale, live], 30_000)).toEqual([{ status: 'lost' }, { status: 'ok' }]);
        expect((await b.get(job.id))!.progress).toBeUndefined();
        expect(await types(b, job.id)).toEqual(['queued', 'active', 'queued', 'active']);

        await b.progress(live, '{"step":2}');
        await b.emit(live, 'token', '"live"');
        expect(await b.complete(live, '"done"')).toBe('completed');
        expect(await b.get(job.id)).toMatchObject({ state: 'completed', result: 'done', progress: { step: 2 } });
        expect(await b.complete(live, '"again"')).toBe('lost');
        expect(await b.heartbeat([live], 30_000)).toEqual([{ status: 'lost' }]);
        expect(await types(b, job.id)).toEqual(['queued', 'active', 'queued', 'active', 'progress', 'token', 'completed']);
      });
    });

    describe('retry and fail', () => {
      it('retries with and without delay, then fails for good on the last attempt', async () => {
        const b = await backend();
        const [job] = await b.add([spec('r', null, { attempts: 3 })]);
        expect(await b.fail(leaseOf(await claimOne(b, 'r')), 'first', 0)).toBe('retrying');
        expect(await b.get(job.id)).toMatchObject({ state: 'waiting', attempt: 1, error: 'first' });
        expect(await b.fail(leaseOf(await claimOne(b, 'r')), 'second', 60_000)).toBe('retrying');
        expect(await b.get(job.id)).toMatchObject({ state: 'delayed', attempt: 2 });
        expect(await b.counts()).toMatchObject({ delayed: 1, active: 0 });
      });

      it('fails at once without a retry delay, and on the last attempt', async () => {
        const b = await backend();
        const [once, last] = await b.add([spec('r', 1, { attempts: 3 }), spec('r', 2, { attempts: 1 })]);
        const [c1, c2] = await claimAll(b, 'r');
        expect(await b.fail(leaseOf(c1), 'no retry', undefined)).toBe('failed');
        expect(await b.fail(leaseOf(c2), 'last', 0)).toBe('failed');
        expect(await b.get(once.id)).toMatchObject({ state: 'failed', error: 'no retry' });
        expect(await types(b, last.id)).toEqual(['queued', 'active', 'failed']);
      });
    });

    describe('stalls', () => {
      if (harness.leasesExpire) {
        it('requeues a job whose lease expired without using up an attempt, then fails it past maxStalls', async () => {
          const b = await backend({ watchdog: { maxStalls: 1 } });
          const [job, cancelled] = await b.add([spec('s'), spec('s')]);
          const [c1] = (await b.claim([{ name: 's', max: 2 }], 1_000)).jobs;
          expect(await b.cancel(cancelled.id, 'bye', 'o')).toBe('cancelling');
          expect(await b.reclaimExpired(Date.now() + 60_000)).toEqual({ requeued: [job.id], failed: [], cancelled: [cancelled.id] });
          expect(await b.get(job.id)).toMatchObject({ state: 'waiting', attempt: 0 });
          expect((await b.readEvents(job.id, '0', 10))!.at(-1)).toMatchObject({ type: 'stalled', data: { attempt: 1, stalls: 1 } });
          expect(await b.get(cancelled.id)).toMatchObject({ state: 'cancelled', cancelReason: 'bye' });

          const rerun = await b.claim([{ name: 's', max: 1 }], 1_000);
          expect(rerun.jobs[0].job).toMatchObject({ id: job.id, attempt: 1 });
          expect(rerun.jobs[0].token).not.toBe(c1.token);
          expect(await b.reclaimExpired(Date.now() + 60_000)).toEqual({ requeued: [], failed: [job.id], cancelled: [] });
          expect(await b.get(job.id)).toMatchObject({ state: 'failed', error: Messages.stalled(2) });
          expect(await types(b, job.id)).toEqual(['queued', 'active', 'stalled', 'active', 'stalled', 'failed']);
        });

        it('fails at the first stall with maxStalls 0, and never reclaims a renewed lease', async () => {
          const b = await backend({ watchdog: { maxStalls: 0 } });
          const [job, renewed] = await b.add([spec('s', null, { attempts: 5 }), spec('s')]);
          const [, c2] = (await b.claim([{ name: 's', max: 2 }], 1_000)).jobs;
          const before = Date.now();
          await b.heartbeat([leaseOf(c2)], 600_000);
          expect(await b.reclaimExpired(before + 60_000)).toEqual({ requeued: [], failed: [job.id], cancelled: [] });
          expect(await b.get(job.id)).toMatchObject({ state: 'failed', error: Messages.stalled(1) });
          expect(await b.get(renewed.id)).toMatchObject({ state: 'active' });
        });
      } else {
        it('never reclaims: no job stalls while its process lives', async () => {
          const b = await backend({ watchdog: { maxStalls: 0 } });
          const [job] = await b.add([spec('s')]);
          await b.claim([{ name: 's', max: 1 }], 100);
          expect(await b.reclaimExpired(Date.now() + 3_600_000)).toEqual({ requeued: [], failed: [], cancelled: [] });
          expect(await b.get(job.id)).toMatchObject({ state: 'active' });
        });
      }
    });

    describe('pending jobs per name (metrics gauges)', () => {
      it('counts waiting and delayed jobs per name, and drops a name once it has none', async () => {
        const b = await backend();
        const [, , later] = await b.add([spec('p1'), spec('p1'), spec('p1', null, { delayMs: 60_000 }), spec('p2', null, { delayMs: 60_000 })]);
        const byName = async () => Object.fromEntries((await b.pendingByName()).map(({ name, ...rest }) => [name, rest]));
        expect(await byName()).toEqual({ p1: { waiting: 2, delayed: 1 }, p2: { waiting: 0, delayed: 1 } });
        expect(await claimAll(b, 'p1')).toHaveLength(2);
        expect(await b.cancel(later.id, 'gone', 'o')).toBe('cancelled');
        expect(await byName()).toEqual({ p2: { waiting: 0, delayed: 1 } });
      });
    });

    describe('events and client activity', () => {
      it('keeps events ordered and resumable with after', async () => {
        const b = await backend();
        const [job] = await b.add([spec('e')]);
        const claimed = await claimOne(b, 'e');
        for (let i = 0; i < 5; i++) await b.emit(leaseOf(claimed), 'token', String(i));
        const all = (await b.readEvents(job.id, '0', 100))!;
        expect(all.map((e) => e.type)).toEqual(['queued', 'active', 'token', 'token', 'token', 'token', 'token']);
        for (let i = 1; i < all.length; i++) expect(compareEventIds(all[i - 1].id, all[i].id)).toBeLessThan(0);
        expect((await b.readEvents(job.id, all[3].id, 2))!.map((e) => e.data)).toEqual([2, 3]);
        expect(await b.readEvents('unknown', '0', 10)).toBeNull();
      });

      it('tracks client activity of unfinished watchClient jobs only', async () => {
        const b = await backend();
        const [watched, plain] = await b.add([spec('t', null, { watchClient: true }), spec('t')]);
        expect(await b.touch(watched.id)).toBe('watched');
        expect(await b.touch(plain.id)).toBe('unwatched');
        expect(await b.touch('missing')).toBe('missing');
        expect(await b.idleClientJobs(Date.now() + 1_000, 10)).toEqual([watched.id]);
        expect(await b.idleClientJobs(watched.createdAt - 1, 10)).toEqual([]);
        await b.cancel(watched.id, 'x', 'o');
        expect(await b.touch(watched.id)).toBe('unwatched');
        expect(await b.idleClientJobs(Date.now() + 1_000, 10)).toEqual([]);
      });
    });
  });
}
