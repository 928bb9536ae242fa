import { randomUUID } from 'node:crypto';
import { QueueFullError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import { EventIdGenerator, compareEventIds } from '../../events/event-id';
import {
  CancelResult,
  JOB_STATES,
  Job,
  JobEvent,
  JobState,
  TERMINAL_STATES,
} from '../../interfaces/job.interface';
import type { ResolvedJobQueueOptions } from '../../job-queue.options';
import type { NormalizedAddOptions } from '../../validation/job-input.validator';
import type {
  CancelMessage,
  ClaimBatch,
  ClaimRequest,
  ClaimedJob,
  EventListener,
  HeartbeatResult,
  Lease,
  NewJob,
  PendingByName,
  QueueBackend,
  ReclaimResult,
  TouchResult,
} from '../queue-backend.interface';
import { jobFromNew } from '../new-job';
import { timerDelay } from '../../utils/timer-delay';
import { ExpiryQueue } from './expiry-queue';
import { SortedQueue } from './sorted-queue';

/** Everything the in-memory store keeps per job. */
interface MemoryRecord {
  job: Job;
  opts: NormalizedAddOptions;
  /** Queue position within a priority (see {@link queuePosition}); kept while active, for a hand-back. */
  pos?: string;
  token?: string;
  cancelRequested?: string;
  traceContext?: string;
  lastActivity: number;
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

  // --- producer -------------------------------------------------------------------------------

  async add(jobs: NewJob[]): Promise<Job[]> {
    this.assertRoom(jobs);
    return jobs.map((spec) => {
      const existing = this.records.get(spec.id);
      if (existing && !TERMINAL_STATES.has(existing.job.state)) return clone(existing.job);
      if (existing) this.records.delete(spec.id);
      return clone(this.insert(spec).job);
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
    for (const { name, max } of requests) {
      this.promoteDue(name, now);
      const queue = this.waiting.get(name);
      for (let taken = 0; queue && queue.size > 0 && taken < max; taken++) {
        jobs.push(this.activate(queue.shift()!, now));
      }
      const due = this.delayed.get(name)?.peekScore();
      if (due !== undefined && (nextDueAt === undefined || due < nextDueAt)) nextDueAt = due;
    }
    return { jobs, nextDueAt };
  }

  waitForWork(names: string[], untilAt: number | undefined): Promise<void> {
    // Work added between the caller's claim and this call woke nobody: do not sleep on it.
    if (names.some((name) => this.hasClaimable(name))) return Promise.resolve();
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

  async fail(lease: Lease, error: string, retryDelayMs: number | undefined): Promise<'retrying' | 'failed' | 'cancelled' | 'lost'> {
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

  async release(lease: Lease): Promise<'released' | 'cancelled' | 'lost'> {
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

  async progress(lease: Lease, valueJson: string): Promise<void> {
    const record = this.owned(lease);
    if (!record) return;
    record.job.progress = JSON.parse(valueJson);
    this.append(record, 'progress', record.job.progress);
  }

  async emit(lease: Lease, type: string, dataJson: string | undefined): Promise<void> {
    const record = this.owned(lease);
    if (record) this.append(record, type, dataJson === undefined ? undefined : JSON.parse(dataJson));
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
    const history = eventsAfter(this.records.get(jobId)?.events ?? [], after);
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
      if (record.opts.watchClient && !TERMINAL_STATES.has(record.job.state) && !record.cancelRequested && record.lastActivity < idleSince) {
        ids.push(record.job.id);
      }
    }
    return ids;
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
      this.enqueueAt(record, this.nextPosition());
    }
    this.append(record, 'queued', opts.delayMs > 0 ? { delayMs: opts.delayMs } : undefined);
    return record;
  }

  private activate(record: MemoryRecord, now: number): ClaimedJob {
    const token = randomUUID();
    record.token = token;
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
    const due = this.delayed.get(name)?.peekScore();
    return (this.waiting.get(name)?.size ?? 0) > 0 || (due !== undefined && due <= Date.now());
  }

  /** Due jobs queue, in due order, behind the jobs already waiting at their priority. */
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

  private clearLease(record: MemoryRecord): void {
    record.token = undefined;
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
    if (record.events.length > this.options.events.maxLen) record.events.splice(0, record.events.length - this.options.events.maxLen);
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
