import { randomUUID } from 'node:crypto';
import { JobNotFoundError, QueueFullError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import { EventIdGenerator, compareEventIds } from '../../events/event-id';
import { CancelResult, JOB_STATES, Job, JobEvent, JobState, TERMINAL_STATES } from '../../interfaces/job.interface';
import type { ResolvedJobQueueOptions } from '../../job-queue.options';
import type { NormalizedAddOptions } from '../../validation/job-input.validator';
import type { RemoveResult, RetryResult } from '../../interfaces/job-operations.interface';
import type {
  BackendConnectionStates,
  CancelMessage,
  CleanQuery,
  ClaimBatch,
  ClaimRequest,
  ClaimedJob,
  EventListener,
  HeartbeatResult,
  Lease,
  ListPage,
  ListPosition,
  ListQuery,
  NewJob,
  PendingByName,
  QueueBackend,
  ReclaimResult,
  StoredSchedule,
  TouchResult,
} from '../queue-backend.interface';
import type { QueueJobEvent } from '../../queue-events/queue-job-event';
import { jobFromNew } from '../new-job';
import { timerDelay } from '../../utils/timer-delay';
import { ExpiryQueue } from './expiry-queue';
import { MemoryNameLimits } from './name-limits';
import { SortedQueue } from './sorted-queue';

/** Everything the in-memory store keeps per job. */
interface MemoryRecord {
  job: Job;
  opts: NormalizedAddOptions;
  /** Queue position within a priority (see {@link queuePosition}); kept while active, for a hand-back. */
  pos?: string;
  token?: string;
  /** Claimed under a `globalConcurrency` limit: counted as running until it leaves `active`. */
  limited?: boolean;
  cancelRequested?: string;
  traceContext?: string;
  lastActivity: number;
  /** See QueueBackend.recordFollowed. */
  followedAt?: number;
  events: JobEvent[];
  ids: EventIdGenerator;
}

/** A live event subscription; `pending` holds events until its history has been delivered. */
interface Subscription {
  after: string;
  listener: EventListener;
  pending?: JobEvent[];
}

/**
 * Single-process backend with the same contract as Redis. Data is held in plain maps and cloned
 * through JSON at the boundary, so callers can never mutate stored state and payload semantics
 * match Redis exactly. Everything here is synchronous, hence atomic.
 */
export class MemoryBackend implements QueueBackend {
  readonly kind = 'memory' as const;
  private readonly records = new Map<string, MemoryRecord>();
  private readonly waiting = new Map<string, SortedQueue<MemoryRecord>>();
  private readonly delayed = new Map<string, SortedQueue<MemoryRecord>>();
  private readonly subscribers = new Map<string, Set<Subscription>>();
  private readonly workWaiters = new Set<{ names: string[]; wake: () => void }>();
  private readonly expiry = new ExpiryQueue((id) => this.expire(id));
  /** Queue positions handed out so far (the Redis `seq` key). */
  private seq = 0;
  private readonly queueListeners = new Set<(event: QueueJobEvent) => void>();
  private readonly schedules = new Map<string, StoredSchedule>();
  private readonly nameLimits = new MemoryNameLimits();

  constructor(private readonly options: ResolvedJobQueueOptions) {}

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.expiry.close();
    this.interruptWait();
    this.subscribers.clear();
  }

  async ping(): Promise<number> {
    return 0;
  }

  /** Nothing to connect: the store is this process's memory. */
  async connectionStates(): Promise<BackendConnectionStates> {
    return { command: 'up', pickup: 'unused', cancels: 'unused', events: 'unused' };
  }

  // --- producer -------------------------------------------------------------------------------

  async add(jobs: NewJob[], onCreated?: (job: Job) => void): Promise<Job[]> {
    this.assertRoom(jobs);
    return jobs.map((spec) => {
      const existing = this.records.get(spec.id);
      if (existing && !TERMINAL_STATES.has(existing.job.state)) return clone(existing.job);
      if (existing) this.records.delete(spec.id);
      const created = clone(this.insert(spec).job);
      onCreated?.(created);
      return created;
    });
  }

  async get(jobId: string): Promise<Job | null> {
    const record = this.records.get(jobId);
    return record ? clone(record.job) : null;
  }

  async counts(): Promise<Record<JobState, number>> {
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const record of this.records.values()) counts[record.job.state]++;
    return counts;
  }

  async pendingByName(): Promise<PendingByName[]> {
    const pending = new Map<string, PendingByName>();
    const entry = (name: string) => pending.get(name) ?? pending.set(name, { name, waiting: 0, delayed: 0 }).get(name)!;
    for (const [name, queue] of this.waiting) if (queue.size > 0) entry(name).waiting = queue.size;
    for (const [name, queue] of this.delayed) if (queue.size > 0) entry(name).delayed = queue.size;
    return [...pending.values()];
  }

  // --- worker ---------------------------------------------------------------------------------

  async claim(requests: ClaimRequest[], _leaseMs: number): Promise<ClaimBatch> {
    const now = Date.now();
    const jobs: ClaimedJob[] = [];
    let nextDueAt: number | undefined;
    const dueAt = (at: number | undefined) => {
      if (at !== undefined && (nextDueAt === undefined || at < nextDueAt)) nextDueAt = at;
    };
    for (const request of requests) {
      const { name } = request;
      this.promoteDue(name, now);
      if (this.nameLimits.isPaused(name)) continue;
      const queue = this.waiting.get(name);
      const take = this.nameLimits.allowance(request, now);
      for (let taken = 0; queue && queue.size > 0 && taken < take; taken++) {
        jobs.push(this.activate(queue.shift()!, now));
      }
      if (queue && queue.size > 0 && take < request.max) dueAt(this.nameLimits.nextStartAt(name, now));
      dueAt(this.delayed.get(name)?.peekScore());
    }
    return { jobs, nextDueAt };
  }

  waitForWork(names: string[], untilAt: number | undefined): Promise<void> {
    // Work added between the caller's claim and this call woke nobody: do not sleep on it, nor past
    // a due time that arrived meanwhile (a delayed job, a rate window), which its claim could not report.
    const now = Date.now();
    if (names.some((name) => this.hasClaimable(name))) return Promise.resolve();
    for (const name of names) {
      for (const due of [this.delayed.get(name)?.peekScore(), this.nameLimits.nextStartAt(name, now)]) {
        if (due !== undefined && (untilAt === undefined || due < untilAt)) untilAt = due;
      }
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        names,
        wake: () => {
          if (timer) clearTimeout(timer);
          this.workWaiters.delete(waiter);
          resolve();
        },
      };
      this.workWaiters.add(waiter);
      if (untilAt !== undefined) timer = setTimeout(waiter.wake, timerDelay(untilAt - Date.now()));
    });
  }

  interruptWait(): void {
    for (const waiter of [...this.workWaiters]) waiter.wake();
  }

  /** Leases cannot expire in memory (see reclaimExpired): this only reports pending cancels. */
  async heartbeat(leases: Lease[], _leaseMs: number): Promise<HeartbeatResult[]> {
    return leases.map((lease) => {
      const record = this.owned(lease);
      if (!record) return { status: 'lost' };
      return record.cancelRequested ? { status: 'cancel', reason: record.cancelRequested } : { status: 'ok' };
    });
  }

  async complete(lease: Lease, resultJson: string): Promise<'completed' | 'cancelled' | 'lost'> {
    const record = this.owned(lease);
    if (!record) return 'lost';
    if (record.cancelRequested) {
      this.finishAsCancelled(record, record.cancelRequested);
      return 'cancelled';
    }
    record.job.result = JSON.parse(resultJson);
    this.finish(record, 'completed', { result: record.job.result });
    return 'completed';
  }

  async fail(
    lease: Lease,
    error: string,
    retryDelayMs: number | undefined,
  ): Promise<'retrying' | 'failed' | 'cancelled' | 'lost'> {
    const record = this.owned(lease);
    if (!record) return 'lost';
    if (record.cancelRequested) {
      this.finishAsCancelled(record, record.cancelRequested);
      return 'cancelled';
    }
    if (retryDelayMs !== undefined && record.job.attempt < record.job.attempts) {
      record.job.error = error;
      this.requeue(record, retryDelayMs, 'retrying', { attempt: record.job.attempt, delayMs: retryDelayMs, error });
      return 'retrying';
    }
    record.job.error = error;
    this.finish(record, 'failed', { error });
    return 'failed';
  }

  async finishCancelled(lease: Lease, reason: string): Promise<boolean> {
    const record = this.owned(lease);
    if (!record) return false;
    this.finishAsCancelled(record, reason);
    return true;
  }

  async release(lease: Lease): Promise<'released' | 'cancelled' | 'failed' | 'lost'> {
    const record = this.owned(lease);
    if (!record) return 'lost';
    if (record.cancelRequested) {
      this.finishAsCancelled(record, record.cancelRequested);
      return 'cancelled';
    }
    record.job.attempt--;
    record.job.startedAt = undefined;
    this.enqueueAt(record, frontOf(record.pos));
    this.append(record, 'queued', { released: true });
    return 'released';
  }

  async progress(lease: Lease, valueJson: string): Promise<boolean> {
    const record = this.owned(lease);
    if (!record) return false;
    record.job.progress = JSON.parse(valueJson);
    this.append(record, 'progress', record.job.progress);
    return true;
  }

  async emit(lease: Lease, type: string, dataJson: string | undefined): Promise<boolean> {
    const record = this.owned(lease);
    if (record) this.append(record, type, dataJson === undefined ? undefined : JSON.parse(dataJson));
    return !!record;
  }

  // --- cancel ---------------------------------------------------------------------------------

  async cancel(jobId: string, reason: string, _origin: string): Promise<CancelResult> {
    const record = this.records.get(jobId);
    if (!record) return 'not_found';
    switch (record.job.state) {
      case 'waiting':
        this.waiting.get(record.job.name)?.remove(record);
        record.pos = undefined;
        this.finishAsCancelled(record, reason);
        return 'cancelled';
      case 'delayed':
        this.delayed.get(record.job.name)?.remove(record);
        this.finishAsCancelled(record, reason);
        return 'cancelled';
      case 'active':
        record.cancelRequested ??= reason;
        return 'cancelling';
      default:
        return 'already_finished';
    }
  }

  async cancelRequests(jobIds: string[]): Promise<Array<string | null>> {
    return jobIds.map((id) => {
      const record = this.records.get(id);
      return record?.job.state === 'active' ? (record.cancelRequested ?? null) : null;
    });
  }

  /** One process: the service delivers local cancels directly, so nothing is ever announced. */
  onCancelRequest(_listener: (message: CancelMessage) => void): () => void {
    return () => undefined;
  }

  onSubscriptionState(listener: (state: 'up' | 'down') => void): () => void {
    listener('up');
    return () => undefined;
  }

  // --- events ---------------------------------------------------------------------------------

  async readEvents(jobId: string, after: string, max: number): Promise<JobEvent[] | null> {
    const record = this.records.get(jobId);
    if (!record) return null;
    return clone(eventsAfter(record.events, after).slice(0, max));
  }

  subscribe(jobId: string, after: string, listener: EventListener): () => void {
    const record = this.records.get(jobId);
    if (!record) return this.notFound(jobId, listener);
    const history = eventsAfter(record.events, after);
    // History is delivered on a microtask (after the caller holds its unsubscribe handle, as with a
    // network backend); live events arriving before then queue behind it to keep the order.
    const entry: Subscription = { after: history.at(-1)?.id ?? after, listener, pending: clone(history) };
    let set = this.subscribers.get(jobId);
    if (!set) this.subscribers.set(jobId, (set = new Set()));
    set.add(entry);
    queueMicrotask(() => {
      const pending = entry.pending!;
      entry.pending = undefined;
      if (set!.has(entry) && pending.length > 0) listener.next(pending);
    });
    return () => {
      set!.delete(entry);
      if (set!.size === 0 && this.subscribers.get(jobId) === set) this.subscribers.delete(jobId);
    };
  }

  /** A subscription to a job that is gone (e.g. removed since the caller checked) ends at once, as on Redis. */
  private notFound(jobId: string, listener: EventListener): () => void {
    let open = true;
    queueMicrotask(() => open && listener.error(new JobNotFoundError(Messages.notFound(jobId), jobId)));
    return () => {
      open = false;
    };
  }

  // --- watchdog -------------------------------------------------------------------------------

  async touch(jobId: string): Promise<TouchResult> {
    const record = this.records.get(jobId);
    if (!record) return 'missing';
    if (!record.opts.watchClient || TERMINAL_STATES.has(record.job.state) || record.cancelRequested) return 'unwatched';
    record.lastActivity = Date.now();
    return 'watched';
  }

  /**
   * Never reclaims: in one process nobody else could take a job over, and the worker that runs it
   * lives as long as this store. A handler that blocks the event loop past `leaseMs` is late, not
   * dead, so its job must neither fail as stalled nor run twice.
   */
  async reclaimExpired(_now: number): Promise<ReclaimResult> {
    return { requeued: [], failed: [], cancelled: [] };
  }

  async idleClientJobs(idleSince: number, max: number): Promise<string[]> {
    const ids: string[] = [];
    for (const record of this.records.values()) {
      if (ids.length >= max) break;
      if (
        record.opts.watchClient &&
        !TERMINAL_STATES.has(record.job.state) &&
        !record.cancelRequested &&
        record.lastActivity < idleSince
      ) {
        ids.push(record.job.id);
      }
    }
    return ids;
  }

  // --- operations: list, retry, remove, clean ---

  /**
   * Same orders and positions as the Redis list script. Waiting and delayed pages come from the
   * sorted queues (a binary search per name); active and finished ones scan the records, O(jobs)
   * per page: fine for a store that lives in one process.
   */
  async list(query: ListQuery): Promise<ListPage> {
    const after = query.after && { score: Number(query.after.score), member: query.after.member };
    let entries: ListEntry[];
    if (query.state === 'waiting' || query.state === 'delayed') {
      const queues = query.state === 'waiting' ? this.waiting : this.delayed;
      const names = query.name === undefined ? [...queues.keys()] : [query.name];
      entries = names.flatMap((name) => queues.get(name)?.after(after, query.limit + 1) ?? []).sort(byPosition);
    } else if (query.state === 'active') {
      entries = this.entriesIn('active', query.name, (job) => job.startedAt ?? 0)
        .filter((entry) => !after || byPosition(after, entry) < 0)
        .sort(byPosition);
    } else {
      entries = this.entriesIn(query.state, query.name, (job) => job.finishedAt ?? 0)
        .filter((entry) => !after || byPosition(entry, after) < 0)
        .sort((a, b) => byPosition(b, a));
    }
    const page = entries.slice(0, query.limit);
    const last = page.at(-1);
    const next: ListPosition | undefined =
      entries.length > query.limit && last ? { score: String(last.score), member: last.member } : undefined;
    return { jobs: page.map((entry) => clone(entry.value.job)), ...(next && { next }) };
  }

  async retry(jobId: string, delayMs: number): Promise<RetryResult> {
    const record = this.records.get(jobId);
    if (!record) return 'not_found';
    if (!TERMINAL_STATES.has(record.job.state)) return 'not_finished';
    const { job } = record;
    job.attempt = 0;
    for (const field of ['startedAt', 'finishedAt', 'progress', 'result', 'error', 'cancelReason'] as const)
      delete job[field];
    record.lastActivity = Date.now();
    // Its pending expiry finds it unfinished and keeps it (see expire).
    this.requeue(record, delayMs, 'queued', delayMs > 0 ? { retried: true, delayMs } : { retried: true });
    return 'retried';
  }

  async remove(jobId: string): Promise<RemoveResult> {
    const record = this.records.get(jobId);
    if (!record) return 'not_found';
    if (record.job.state === 'active') return 'active';
    this.drop(record);
    return 'removed';
  }

  async clean(query: CleanQuery): Promise<number> {
    const doomed = this.entriesIn(query.state, query.name, (job) => job.finishedAt ?? 0)
      .filter((entry) => entry.score <= query.finishedBefore)
      .sort(byPosition)
      .slice(0, query.limit);
    for (const entry of doomed) this.drop(entry.value);
    return doomed.length;
  }

  /** The records in `state` (of `name`), keyed by `score` then id. */
  private entriesIn(state: JobState, name: string | undefined, score: (job: Job) => number): ListEntry[] {
    const entries: ListEntry[] = [];
    for (const record of this.records.values()) {
      const { job } = record;
      if (job.state === state && (name === undefined || job.name === name))
        entries.push({ score: score(job), member: job.id, value: record });
    }
    return entries;
  }

  /** Deletes a job that is not active, with its events; its open subscriptions end with JobNotFoundError. */
  private drop(record: MemoryRecord): void {
    const { id, name, state } = record.job;
    if (state === 'waiting') this.waiting.get(name)?.remove(record);
    if (state === 'delayed') this.delayed.get(name)?.remove(record);
    this.records.delete(id);
    const subscriptions = [...(this.subscribers.get(id) ?? [])];
    // Cleared first: a subscription whose history is still pending must not deliver it any more.
    this.subscribers.get(id)?.clear();
    this.subscribers.delete(id);
    for (const sub of subscriptions) sub.listener.error(new JobNotFoundError(Messages.removed(id), id));
  }

  // --- operations: pause, rate limits ---------------------------------------------------------
  // Rate limits and global concurrency are enforced in claim() and clearLease() (MemoryNameLimits).

  async pause(name: string): Promise<void> {
    this.nameLimits.pause(name);
  }

  async resume(name: string): Promise<void> {
    // Waiters recheck what is claimable, so waking them all is enough.
    if (this.nameLimits.resume(name)) this.interruptWait();
  }

  async paused(): Promise<string[]> {
    return this.nameLimits.paused();
  }

  // --- internals ------------------------------------------------------------------------------

  private assertRoom(jobs: NewJob[]): void {
    const max = this.options.maxWaiting;
    if (max === undefined) return;
    let pending = 0;
    for (const queue of [...this.waiting.values(), ...this.delayed.values()]) pending += queue.size;
    const fresh = jobs.filter((spec) => {
      const existing = this.records.get(spec.id);
      return !existing || TERMINAL_STATES.has(existing.job.state);
    }).length;
    if (pending + fresh > max) throw new QueueFullError(Messages.queueFull(max));
  }

  private insert(spec: NewJob): MemoryRecord {
    const { opts } = spec;
    const record: MemoryRecord = {
      job: jobFromNew(spec),
      opts,
      lastActivity: spec.createdAt,
      events: [],
      ids: new EventIdGenerator(),
      ...(spec.traceContext !== undefined && { traceContext: spec.traceContext }),
    };
    this.records.set(spec.id, record);
    if (opts.delayMs > 0) {
      this.delay(record, spec.createdAt + opts.delayMs);
      this.wake(spec.name);
    } else {
      this.promoteDue(spec.name, Date.now());
      this.enqueueAt(record, this.nextPosition());
    }
    this.append(record, 'queued', opts.delayMs > 0 ? { delayMs: opts.delayMs } : undefined);
    return record;
  }

  private activate(record: MemoryRecord, now: number): ClaimedJob {
    const token = randomUUID();
    record.token = token;
    record.limited = this.nameLimits.started(record.job.name, now);
    record.job.state = 'active';
    record.job.attempt++;
    record.job.startedAt = now;
    this.append(record, 'active', { attempt: record.job.attempt });
    return {
      job: clone(record.job),
      token,
      timeoutMs: record.opts.timeoutMs,
      backoff: record.opts.backoff,
      ...(record.cancelRequested !== undefined && { cancelRequested: record.cancelRequested }),
      ...(record.traceContext !== undefined && { traceContext: record.traceContext }),
    };
  }

  /** A retry: delayed, or waiting behind the jobs already waiting at its priority. */
  private requeue(record: MemoryRecord, delayMs: number, type: string, data: unknown): void {
    this.clearLease(record);
    this.append(record, type, data);
    if (delayMs > 0) {
      this.delay(record, Date.now() + delayMs);
      this.wake(record.job.name);
    } else {
      this.promoteDue(record.job.name, Date.now());
      this.enqueueAt(record, this.nextPosition());
    }
  }

  /** Delayed jobs are ordered by due time, then id (a Redis zset's member order). */
  private delay(record: MemoryRecord, dueAt: number): void {
    record.job.state = 'delayed';
    this.queueFor(this.delayed, record.job.name).push(dueAt, record.job.id, record);
  }

  /** Waiting jobs: higher priority first, then by queue position, as in the Redis waiting zsets. */
  private enqueueAt(record: MemoryRecord, pos: string): void {
    this.clearLease(record);
    record.job.state = 'waiting';
    record.pos = pos;
    this.queueFor(this.waiting, record.job.name).push(-record.job.priority, pos, record);
    this.wake(record.job.name);
  }

  private nextPosition(): string {
    return queuePosition(++this.seq);
  }

  private hasClaimable(name: string): boolean {
    const now = Date.now();
    const due = this.delayed.get(name)?.peekScore();
    const ready = (this.waiting.get(name)?.size ?? 0) > 0 || (due !== undefined && due <= now);
    return ready && !this.nameLimits.isHeld(name, now);
  }

  /**
   * Due jobs queue, in due order, behind the jobs already waiting at their priority. Runs before a
   * job of the name gets a position (add, retry, claim), as in the Redis scripts (promoteDue).
   */
  private promoteDue(name: string, now: number): void {
    const delayed = this.delayed.get(name);
    while (delayed && delayed.size > 0 && delayed.peekScore()! <= now) {
      this.enqueueAt(delayed.shift()!, this.nextPosition());
    }
  }

  private finishAsCancelled(record: MemoryRecord, reason: string): void {
    record.job.cancelReason = reason;
    this.finish(record, 'cancelled', { reason });
  }

  private finish(record: MemoryRecord, state: 'completed' | 'failed' | 'cancelled', data: unknown): void {
    const now = Date.now();
    this.clearLease(record);
    record.cancelRequested = undefined;
    record.job.state = state;
    record.job.finishedAt = now;
    this.append(record, state, data);
    this.expiry.schedule(record.job.id, now + this.options.events.retentionMs);
  }

  /** Every way out of `active` passes here (and so do jobs that were never active: a no-op). */
  private clearLease(record: MemoryRecord): void {
    record.token = undefined;
    if (record.limited) {
      record.limited = false;
      this.nameLimits.left(record.job.name);
      // A slot of a name with a global limit opened: a held job may start now.
      this.wake(record.job.name);
    }
  }

  private owned(lease: Lease): MemoryRecord | undefined {
    const record = this.records.get(lease.jobId);
    return record && record.job.state === 'active' && record.token === lease.token ? record : undefined;
  }

  private append(record: MemoryRecord, type: string, data: unknown): void {
    const now = Date.now();
    const event: JobEvent = { id: record.ids.next(now), jobId: record.job.id, type, at: now };
    if (data !== undefined) event.data = data;
    record.events.push(event);
    if (record.events.length > this.options.events.maxLen)
      record.events.splice(0, record.events.length - this.options.events.maxLen);
    if (this.queueListeners.size > 0) this.publishQueueEvent(event, record.job.name);
    for (const sub of this.subscribers.get(record.job.id) ?? []) {
      if (compareEventIds(event.id, sub.after) <= 0) continue;
      sub.after = event.id;
      if (sub.pending) sub.pending.push(clone(event));
      else sub.listener.next([clone(event)]);
    }
  }

  private wake(name: string): void {
    for (const waiter of [...this.workWaiters]) if (waiter.names.includes(name)) waiter.wake();
  }

  private expire(id: string): void {
    const record = this.records.get(id);
    const finishedAt = record?.job.finishedAt;
    if (record && finishedAt !== undefined && finishedAt + this.options.events.retentionMs <= Date.now()) {
      this.records.delete(id);
      this.subscribers.delete(id);
    }
  }

  private queueFor(map: Map<string, SortedQueue<MemoryRecord>>, name: string): SortedQueue<MemoryRecord> {
    let queue = map.get(name);
    if (!queue) map.set(name, (queue = new SortedQueue()));
    return queue;
  }

  // --- operations: queue events, schedules ---

  onQueueEvent(listener: (event: QueueJobEvent) => void): () => void {
    this.queueListeners.add(listener);
    return () => this.queueListeners.delete(listener);
  }

  async recentEvents(jobId: string, max: number): Promise<JobEvent[]> {
    return clone(this.records.get(jobId)?.events.slice(-max).reverse() ?? []);
  }

  async saveSchedule(schedule: StoredSchedule): Promise<void> {
    this.schedules.set(schedule.id, clone(schedule));
  }

  async removeSchedule(scheduleId: string): Promise<boolean> {
    return this.schedules.delete(scheduleId);
  }

  async listSchedules(): Promise<StoredSchedule[]> {
    return clone([...this.schedules.values()]);
  }

  async dueSchedules(now: number, max: number): Promise<{ due: StoredSchedule[]; nextAt?: number }> {
    const pending = [...this.schedules.values()]
      .filter((s) => s.nextAt !== undefined)
      .sort((a, b) => a.nextAt! - b.nextAt!);
    return { due: clone(pending.filter((s) => s.nextAt! <= now).slice(0, max)), nextAt: pending[0]?.nextAt };
  }

  async fireSchedule(
    schedule: StoredSchedule,
    nextAt: number | undefined,
    job: NewJob,
  ): Promise<'added' | 'exists' | 'lost'> {
    const stored = this.schedules.get(schedule.id);
    if (!stored || stored.rev !== schedule.rev || stored.nextAt !== schedule.nextAt) return 'lost';
    stored.count++;
    stored.nextAt = nextAt;
    const existing = this.records.get(job.id);
    if (existing && !TERMINAL_STATES.has(existing.job.state)) return 'exists';
    if (existing) this.records.delete(job.id);
    this.insert(job);
    return 'added';
  }

  private publishQueueEvent(event: JobEvent, name: string): void {
    for (const listener of [...this.queueListeners]) listener({ ...clone(event), name });
  }

  // --- events: follow activity ---

  async recordFollowed(jobIds: string[], at: number): Promise<void> {
    for (const jobId of jobIds) {
      const record = this.records.get(jobId);
      if (record && (record.followedAt === undefined || at > record.followedAt)) record.followedAt = at;
    }
  }

  async lastFollowedAt(jobId: string): Promise<number | undefined> {
    return this.records.get(jobId)?.followedAt;
  }
}

/** An entry of a list() order: sorted by score, then member (a Redis zset's order). */
interface ListEntry {
  score: number;
  member: string;
  value: MemoryRecord;
}

/** Ascending (score, member); members are ASCII, where JavaScript's string order is byte order. */
function byPosition(a: { score: number; member: string }, b: { score: number; member: string }): number {
  if (a.score !== b.score) return a.score - b.score;
  return a.member < b.member ? -1 : a.member > b.member ? 1 : 0;
}

/**
 * The position of a job that became ready: '1' + a 19-digit sequence, so FIFO within a priority
 * holds for the life of the queue (the Redis scripts' queuePos, in includes/common.lua).
 */
function queuePosition(seq: number): string {
  return `1${String(seq).padStart(19, '0')}`;
}

/** A shutdown hand-back goes before every job that became ready, keeping its old relative order. */
function frontOf(pos: string | undefined): string {
  return `0${(pos ?? queuePosition(0)).slice(1)}`;
}

function eventsAfter(events: JobEvent[], after: string): JobEvent[] {
  if (after === '0') return events;
  // Ids increase, so the first newer event starts the answer.
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareEventIds(events[mid].id, after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return events.slice(lo);
}

function clone<T>(value: T): T {
  return value === undefined ? value : JSON.parse(JSON.stringify(value));
}
