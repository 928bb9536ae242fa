import { randomUUID } from 'node:crypto';
import { QUEUE_LEVEL } from '../../lib/backends/pause-levels';
import type { ClaimedJob, Lease, ListQuery, NewJob, QueueBackend } from '../../lib/backends/queue-backend.interface';
import { Messages } from '../../lib/errors/job-queue.messages';
import { compareEventIds } from '../../lib/events/event-id';
import type { AddOptions, Job, JobEvent } from '../../lib/interfaces/job.interface';
import type { JobQueueModuleOptions } from '../../lib/job-queue.options';
import { TIMED_OUT, within } from '../../lib/utils/within';
import { normalizeAddOptions } from '../../lib/validation/job-input.validator';
import { elapse, eventually } from '../support/deferred';

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
      return {
        id: normalized.jobId ?? randomUUID(),
        name: jobName,
        dataJson: JSON.stringify(data),
        opts: normalized,
        createdAt: Date.now(),
      };
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
        await b.add([spec('d', 'w1')]);
        const [late] = await b.add([spec('d', 'late', { delayMs: 60 }), spec('d', 'early', { delayMs: 30 })]);
        await b.add([spec('d', 'w2')]);
        await until(late.createdAt + 60);
        await b.add([spec('d', 'w3')]);
        // Both were due before w3 was added: they queue ahead of it, in due order, behind w1 and w2.
        expect(dataOf(await claimAll(b, 'd'))).toEqual(['w1', 'w2', 'early', 'late', 'w3']);
      });

      it('queues a job that became due while no claim ran ahead of jobs added after it was due', async () => {
        const b = await backend();
        const [due] = await b.add([spec('busy', 'due-first', { delayMs: 30 })]);
        await until(due.createdAt + 31);
        // Every worker is busy (no claim promotes it); then a job is added and one is retried.
        await b.add([spec('busy', 'added-later')]);
        expect(dataOf(await claimAll(b, 'busy'))).toEqual(['due-first', 'added-later']);
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
        expect((await b.readEvents(one.job.id, '0', 10))!.at(-1)).toMatchObject({
          type: 'queued',
          data: { released: true },
        });
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
        expect(await b.progress(stale, '0.5')).toBe(false);
        expect(await b.emit(stale, 'token', '"stale"')).toBe(false);
        expect(await b.heartbeat([stale, live], 30_000)).toEqual([{ status: 'lost' }, { status: 'ok' }]);
        expect((await b.get(job.id))!.progress).toBeUndefined();
        expect(await types(b, job.id)).toEqual(['queued', 'active', 'queued', 'active']);

        expect(await b.progress(live, '{"step":2}')).toBe(true);
        expect(await b.emit(live, 'token', '"live"')).toBe(true);
        expect(await b.complete(live, '"done"')).toBe('completed');
        expect(await b.get(job.id)).toMatchObject({ state: 'completed', result: 'done', progress: { step: 2 } });
        expect(await b.complete(live, '"again"')).toBe('lost');
        expect(await b.heartbeat([live], 30_000)).toEqual([{ status: 'lost' }]);
        expect(await types(b, job.id)).toEqual([
          'queued',
          'active',
          'queued',
          'active',
          'progress',
          'token',
          'completed',
        ]);
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
          expect(await b.reclaimExpired(Date.now() + 60_000)).toEqual({
            requeued: [job.id],
            failed: [],
            cancelled: [cancelled.id],
          });
          expect(await b.get(job.id)).toMatchObject({ state: 'waiting', attempt: 0 });
          expect((await b.readEvents(job.id, '0', 10))!.at(-1)).toMatchObject({
            type: 'stalled',
            data: { attempt: 1, stalls: 1 },
          });
          expect(await b.get(cancelled.id)).toMatchObject({ state: 'cancelled', cancelReason: 'bye' });

          const rerun = await b.claim([{ name: 's', max: 1 }], 1_000);
          expect(rerun.jobs[0].job).toMatchObject({ id: job.id, attempt: 1 });
          expect(rerun.jobs[0].token).not.toBe(c1.token);
          expect(await b.reclaimExpired(Date.now() + 60_000)).toEqual({
            requeued: [],
            failed: [job.id],
            cancelled: [],
          });
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
        const [, , later] = await b.add([
          spec('p1'),
          spec('p1'),
          spec('p1', null, { delayMs: 60_000 }),
          spec('p2', null, { delayMs: 60_000 }),
        ]);
        const byName = async () =>
          Object.fromEntries((await b.pendingByName()).map(({ name, ...rest }) => [name, rest]));
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

    describe('operations: list, retry, remove, clean', () => {
      /** Every page of a list, checking each respects the limit. */
      async function listAll(b: QueueBackend, query: ListQuery): Promise<Job[]> {
        const jobs: Job[] = [];
        let after = query.after;
        do {
          const page = await b.list({ ...query, after });
          expect(page.jobs.length).toBeLessThanOrEqual(query.limit);
          jobs.push(...page.jobs);
          after = page.next;
        } while (after);
        return jobs;
      }

      /** `count` cancelled jobs of `jobName` (cancelling waiting jobs is the quickest way to finish them). */
      async function cancelledJobs(b: QueueBackend, jobName: string, count: number): Promise<Job[]> {
        const jobs = await b.add(Array.from({ length: count }, (_, i) => spec(jobName, i)));
        await Promise.all(jobs.map((job) => b.cancel(job.id, 'x', 'o')));
        return jobs;
      }

      it('finds the few jobs of a name among more finished jobs than one scan examines', async () => {
        const b = await backend();
        const wanted = await cancelledJobs(b, 'rare', 5);
        await cancelledJobs(b, 'common', 2_500);
        const found = await listAll(b, { state: 'cancelled', name: 'rare', limit: 2 });
        const expected = await Promise.all(wanted.map(async (job) => (await b.get(job.id))!));
        expected.sort((x, y) => y.finishedAt! - x.finishedAt! || (x.id < y.id ? 1 : -1));
        expect(found.map((j) => j.id)).toEqual(expected.map((j) => j.id));
        expect(await b.clean({ state: 'cancelled', finishedBefore: Date.now(), name: 'rare', limit: Infinity })).toBe(
          5,
        );
        expect((await b.counts()).cancelled).toBe(2_500);
        expect(await b.clean({ state: 'cancelled', finishedBefore: Date.now(), limit: Infinity })).toBe(2_500);
      });

      it('keeps a retried job past the retention it had as a finished job, with fresh stalls', async () => {
        const b = await backend({ watchdog: { maxStalls: 1 }, events: { retentionMs: 200 } });
        const [job] = await b.add([spec('st')]);
        const claimed = await claimOne(b, 'st');
        if (harness.leasesExpire) {
          // One stall is allowed: the first is requeued, the second fails the job.
          expect((await b.reclaimExpired(Date.now() + 60_000)).requeued).toEqual([job.id]);
          await claimOne(b, 'st');
          expect((await b.reclaimExpired(Date.now() + 60_000)).failed).toEqual([job.id]);
        } else {
          expect(await b.fail(leaseOf(claimed), 'no', undefined)).toBe('failed');
        }
        expect(await b.retry(job.id, 0)).toBe('retried');
        await until(Date.now() + 250); // the subject: the old retention elapses, the record must stay
        expect(await b.get(job.id)).toMatchObject({ state: 'waiting', attempt: 0 });
        expect((await b.readEvents(job.id, '0', 100))!.at(-1)).toMatchObject({
          type: 'queued',
          data: { retried: true },
        });
        if (harness.leasesExpire) {
          await claimOne(b, 'st');
          expect((await b.reclaimExpired(Date.now() + 60_000)).requeued).toEqual([job.id]);
        }
      });

      it('never ends a delivery with a terminal event that later events follow (a long history before a retry)', async () => {
        const b = await backend();
        const [job] = await b.add([spec('long')]);
        const claimed = await claimOne(b, 'long');
        // queued, active, 997 tokens, completed: the terminal event is the 1000th.
        for (let i = 0; i < 997; i++) void b.emit(leaseOf(claimed), 'token', String(i));
        expect(await b.complete(leaseOf(claimed), '"done"')).toBe('completed');
        expect(await b.retry(job.id, 0)).toBe('retried');
        const batches: JobEvent[][] = [];
        await new Promise<void>((resolve, reject) => {
          const off = b.subscribe(job.id, '0', {
            next: (events) => {
              batches.push(events);
              if (events.at(-1)!.type === 'queued') {
                off();
                resolve();
              }
            },
            error: reject,
          });
        });
        const all = batches.flat();
        expect(all).toHaveLength(1_001);
        expect(all.map((e) => e.type).slice(-2)).toEqual(['completed', 'queued']);
        for (const batch of batches) expect(batch.at(-1)!.type).not.toBe('completed');
      });

      it('ends a subscription with JobNotFoundError when the job is removed, or was before it started', async () => {
        const b = await backend();
        const [job, gone] = await b.add([spec('rm'), spec('rm')]);
        const errors: Error[] = [];
        const first = new Promise<void>((resolve) =>
          b.subscribe(job.id, '0', { next: () => resolve(), error: (err) => errors.push(err) }),
        );
        await first;
        expect(await b.remove(gone.id)).toBe('removed');
        const ended = new Promise<Error>((resolve) =>
          b.subscribe(gone.id, '0', { next: () => undefined, error: resolve }),
        );
        expect(await b.remove(job.id)).toBe('removed');
        expect((await ended).name).toBe('JobNotFoundError');
        await eventually(() => errors.length === 1);
        expect(errors[0]).toMatchObject({ name: 'JobNotFoundError', jobId: job.id });
        expect(await b.readEvents(job.id, '0', 10)).toBeNull();
        expect((await b.counts()).waiting).toBe(0);
      });
    });

    describe('operations: pause, rate limits', () => {
      /** Resolves true when `wait` settles within `ms` (well below the Redis waiter's 5 s cap). */
      async function wokeWithin(wait: Promise<void>, ms = 4_000): Promise<boolean> {
        return (await within(wait, ms)) !== TIMED_OUT;
      }

      it('claims nothing of a paused name, at either level; resume wakes a blocked waiter', async () => {
        const b = await backend();
        await b.add([spec('p', 1), spec('p', 2), spec('q', 3)]);
        await b.pause(QUEUE_LEVEL);
        await b.pause('p');
        expect(await b.paused()).toEqual([QUEUE_LEVEL, 'p']);
        expect(
          (
            await b.claim(
              [
                { name: 'p', max: 5 },
                { name: 'q', max: 5 },
              ],
              30_000,
            )
          ).jobs,
        ).toHaveLength(0);
        await b.resume(QUEUE_LEVEL);
        const q = await b.claim(
          [
            { name: 'p', max: 5 },
            { name: 'q', max: 5 },
          ],
          30_000,
        );
        expect(dataOf(q.jobs)).toEqual([3]);
        expect((await b.counts()).waiting).toBe(2);
        const wait = b.waitForWork(['p'], Date.now() + 60_000);
        await b.resume('p');
        expect(await wokeWithin(wait)).toBe(true);
        expect(await b.paused()).toEqual([]);
        expect(dataOf(await claimAll(b, 'p'))).toEqual([1, 2]);
      });

      it('keeps due delayed jobs of a paused name from running, and reports no due time for them', async () => {
        const b = await backend();
        const [delayed] = await b.add([spec('d', 'later', { delayMs: 30 })]);
        await b.pause('d');
        await until(delayed.createdAt + 30);
        const held = await b.claim([{ name: 'd', max: 5 }], 30_000);
        expect(held).toEqual({ jobs: [] });
        await b.resume('d');
        expect(dataOf(await claimAll(b, 'd'))).toEqual(['later']);
      });

      it('globalConcurrency: every way out of active frees the slot and wakes a blocked waiter; a stale write does not', async () => {
        const b = await backend();
        const claimG = async () => (await b.claim([{ name: 'g', max: 5, globalConcurrency: 1 }], 30_000)).jobs;
        await b.add(Array.from({ length: 8 }, (_, i) => spec('g', i, { attempts: i === 1 ? 2 : 1 })));
        const taken: ClaimedJob[] = [];
        /** Claims the one job the limit allows, checks the name is held, then ends the job with `exit`. */
        const runThen = async (exit: (claimed: ClaimedJob) => Promise<unknown>) => {
          const jobs = await claimG();
          expect(jobs).toHaveLength(1);
          expect(await claimG()).toHaveLength(0);
          taken.push(jobs[0]);
          const wait = b.waitForWork(['g'], Date.now() + 60_000);
          await exit(jobs[0]);
          expect(await wokeWithin(wait)).toBe(true);
        };
        await runThen(async (c) => {
          expect(await b.complete({ jobId: c.job.id, token: 'stale' }, '1')).toBe('lost');
          expect(await claimG()).toHaveLength(0);
          expect(await b.complete(leaseOf(c), '1')).toBe('completed');
        });
        await runThen(async (c) => expect(await b.fail(leaseOf(c), 'again', 0)).toBe('retrying'));
        await runThen(async (c) => expect(await b.fail(leaseOf(c), 'boom', undefined)).toBe('failed'));
        await runThen(async (c) => {
          expect(await b.cancel(c.job.id, 'stop', 'o')).toBe('cancelling');
          expect(await b.complete(leaseOf(c), '1')).toBe('cancelled');
        });
        await runThen(async (c) => expect(await b.finishCancelled(leaseOf(c), 'stop')).toBe(true));
        await runThen(async (c) => expect(await b.release(leaseOf(c))).toBe('released'));
        // The released job comes back first; the retried one queued behind the others.
        await runThen(async (c) => expect(await b.complete(leaseOf(c), '1')).toBe('completed'));
        expect(taken.map((t) => t.job.data)).toEqual([0, 1, 2, 3, 4, 5, 5]);
      });

      it('globalConcurrency: claims up to the limit in one call and wakes a blocked waiter when a slot frees', async () => {
        const b = await backend();
        await b.add([spec('g', 1), spec('g', 2), spec('g', 3)]);
        const first = await b.claim([{ name: 'g', max: 5, globalConcurrency: 2 }], 30_000);
        expect(dataOf(first.jobs)).toEqual([1, 2]);
        expect(await b.get(first.jobs[0].job.id)).toMatchObject({ state: 'active' });
        expect((await b.claim([{ name: 'g', max: 5, globalConcurrency: 2 }], 30_000)).jobs).toHaveLength(0);
        const wait = b.waitForWork(['g'], Date.now() + 60_000);
        await b.complete(leaseOf(first.jobs[0]), 'null');
        expect(await wokeWithin(wait)).toBe(true);
        expect(dataOf((await b.claim([{ name: 'g', max: 5, globalConcurrency: 2 }], 30_000)).jobs)).toEqual([3]);
      });

      if (harness.leasesExpire) {
        it('globalConcurrency: a reclaimed job frees its slot and wakes a blocked waiter', async () => {
          const b = await backend({ watchdog: { maxStalls: 1 } });
          await b.add([spec('g', 1), spec('g', 2)]);
          const claimG = async () => (await b.claim([{ name: 'g', max: 5, globalConcurrency: 1 }], 1_000)).jobs;
          const [stalled] = await claimG();
          expect(await claimG()).toHaveLength(0);
          const wait = b.waitForWork(['g'], Date.now() + 60_000);
          expect((await b.reclaimExpired(Date.now() + 60_000)).requeued).toEqual([stalled.job.id]);
          expect(await wokeWithin(wait)).toBe(true);
          expect(dataOf(await claimG())).toEqual([2]);
        });
      }

      it('rateLimit: at most max starts per window; held jobs stay waiting and the window opening is the due time', async () => {
        const b = await backend();
        const rateLimit = { max: 2, perMs: 300 };
        await b.add([spec('r', 1), spec('r', 2), spec('r', 3), spec('r', 4, { delayMs: 60_000 })]);
        const first = await b.claim([{ name: 'r', max: 5, rateLimit }], 30_000);
        expect(dataOf(first.jobs)).toEqual([1, 2]);
        const startedAt = first.jobs[0].job.startedAt!;
        expect(first.nextDueAt).toBe(startedAt + rateLimit.perMs);
        const held = await b.claim([{ name: 'r', max: 5, rateLimit }], 30_000);
        expect(held.jobs).toHaveLength(0);
        expect(held.nextDueAt).toBe(startedAt + rateLimit.perMs);
        expect((await b.counts()).waiting).toBe(1);
        await until(held.nextDueAt!);
        const later = await b.claim([{ name: 'r', max: 5, rateLimit }], 30_000);
        expect(dataOf(later.jobs)).toEqual([3]);
        expect(later.jobs[0].job.startedAt! - startedAt).toBeGreaterThanOrEqual(rateLimit.perMs);
        // Nothing held back any more: the due time is the delayed job's again.
        expect(later.nextDueAt).toBeGreaterThan(Date.now() + 50_000);
      });
    });

    // --- events: follow activity ---
    describe('follow activity (cancel-on-disconnect across processes)', () => {
      it('keeps the latest time a stream of the job was recorded open, per job; writes nothing for unknown jobs', async () => {
        const b = await backend();
        const [first, second] = await b.add([spec('f'), spec('f')]);
        expect(await b.lastFollowedAt(first.id)).toBeUndefined();

        await b.recordFollowed([first.id, second.id, 'unknown'], 1_000);
        await b.recordFollowed([first.id], 3_000);
        await b.recordFollowed([first.id], 2_000); // a late write from another process: older, ignored
        expect(await b.lastFollowedAt(first.id)).toBe(3_000);
        expect(await b.lastFollowedAt(second.id)).toBe(1_000);
        expect(await b.lastFollowedAt('unknown')).toBeUndefined();
        expect(await b.get('unknown')).toBeNull(); // no stub record
        expect(await b.get(first.id)).toMatchObject({ id: first.id, state: 'waiting' }); // the record still reads
      });
    });
  });
}
