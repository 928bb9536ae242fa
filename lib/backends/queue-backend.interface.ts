import type { FinishedJobState, RemoveResult, RetryResult } from '../interfaces/job-operations.interface';
import type { CancelResult, Job, JobEvent, JobState } from '../interfaces/job.interface';
import type { QueueJobEvent } from '../queue-events/queue-job-event';
import type { ScheduleOptions } from '../schedules/job-schedule.interface';
import type { NormalizedAddOptions } from '../validation/job-input.validator';

/**
 * The storage contract both backends implement (memory and Redis). The service, worker,
 * dispatcher and watchdog only talk to this interface, so every behaviour is written once.
 *
 * All state changes of one job are atomic. Inputs are already validated and serialized by the
 * caller; a backend never throws for user input except QueueFullError from `add`.
 */
export interface QueueBackend {
  readonly kind: 'memory' | 'redis';

  /** Connects and loads scripts. Called once, on application bootstrap. */
  start(): Promise<void>;
  /** Releases every connection, timer and subscription. Idempotent. */
  close(): Promise<void>;
  /** Round-trip latency in ms; rejects when the store is unreachable. */
  ping(): Promise<number>;
  /**
   * The state of each connection this process relies on (see BackendConnectionStates); health
   * reports `down` while one it used is down. Never rejects.
   */
  connectionStates(): Promise<BackendConnectionStates>;

  // --- producer -------------------------------------------------------------------------------
  /**
   * Adds jobs in order. A job whose `id` already exists and is not finished is returned as is
   * (idempotency); a finished one is replaced. Throws QueueFullError (adding none) when
   * `maxWaiting` would be exceeded. Writes a `queued` event for each new job, and reports each
   * job it created (not the existing ones it returns) to `onCreated` (for @OnJobEvent hooks).
   */
  add(jobs: NewJob[], onCreated?: (job: Job) => void): Promise<Job[]>;
  /**
   * An id for a new job of `name` added without a `jobId`, when the backend prefers to choose it (a
   * sharded queue picks one that routes to where the name's jobs live); absent: a random UUID.
   */
  newJobId?(name: string): string;
  get(jobId: string): Promise<Job | null>;
  counts(): Promise<Record<JobState, number>>;
  /** Waiting and delayed jobs per name, for the names that have any (cost bounded by the number of names). */
  pendingByName(): Promise<PendingByName[]>;

  // --- worker ---------------------------------------------------------------------------------
  /**
   * Promotes due delayed jobs, then claims up to `max` waiting jobs per name (priority desc, FIFO),
   * each with a fresh fencing token and a lease of `leaseMs`. Writes an `active` event per claim.
   * A paused name claims nothing; a request's `rateLimit` / `globalConcurrency` cap what it takes
   * (held jobs stay waiting). `nextDueAt` is the earliest time a job of the names may become
   * claimable without a wake-up: a delayed job's due time, or when a rate window next allows a start.
   */
  claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch>;
  /** Resolves when a job of one of `names` may be claimable, or at `untilAt` (epoch ms). */
  waitForWork(names: string[], untilAt: number | undefined): Promise<void>;
  /** Makes a pending `waitForWork` resolve now (e.g. the set of names changed). */
  interruptWait(): void;
  /** Renews leases. Per job: 'ok', 'lost' (token stale: stop, result will be refused) or a cancel reason. */
  heartbeat(leases: Lease[], leaseMs: number): Promise<HeartbeatResult[]>;
  /**
   * active → completed with the result; 'cancelled' when a cancel was requested before the result
   * was written (a cancel always wins: the result is discarded); 'lost' when the token is stale.
   */
  complete(lease: Lease, resultJson: string): Promise<'completed' | 'cancelled' | 'lost'>;
  /**
   * active → waiting/delayed with a `retrying` event when attempts remain, no cancel was requested
   * and `retryDelayMs` is given (queued behind the jobs already waiting at its priority); a
   * pending cancel → 'cancelled'; otherwise → failed. 'lost' when the token is stale.
   */
  fail(
    lease: Lease,
    error: string,
    retryDelayMs: number | undefined,
  ): Promise<'retrying' | 'failed' | 'cancelled' | 'lost'>;
  /** active → cancelled (after the handler honoured or ignored a cancel). False when the token is stale. */
  finishCancelled(lease: Lease, reason: string): Promise<boolean>;
  /**
   * Shutdown hand-back: active → waiting at the front of its priority, attempt not consumed
   * ('released'); a job with a pending cancel is finished cancelled instead ('cancelled'); a damaged
   * record that names no queue fails ('failed').
   */
  release(lease: Lease): Promise<'released' | 'cancelled' | 'failed' | 'lost'>;
  /** Records progress on the job and appends a `progress` event; ignored (false) when the token is stale. */
  progress(lease: Lease, valueJson: string): Promise<boolean>;
  /** Appends a custom event; ignored (false) when the token is stale (fenced like progress). The type is already validated. */
  emit(lease: Lease, type: string, dataJson: string | undefined): Promise<boolean>;

  // --- cancel ---------------------------------------------------------------------------------
  /**
   * waiting/delayed → cancelled atomically ('cancelled'); active → cancel requested on the record
   * and announced to every process ('cancelling'); finished → 'already_finished'.
   */
  cancel(jobId: string, reason: string, origin: string): Promise<CancelResult>;
  /** For active jobs: the pending cancel reason per id (null when none), read from the records. */
  cancelRequests(jobIds: string[]): Promise<Array<string | null>>;
  /**
   * Live cancel announcements from other processes; `onMalformed` hears each message that could
   * not be read (not ours, or damaged). Returns an unsubscribe function.
   */
  onCancelRequest(listener: (message: CancelMessage) => void, onMalformed?: (why: string) => void): () => void;
  /** Connection state of the cancel subscription (always 'up' in memory). */
  onSubscriptionState(listener: (state: 'up' | 'down') => void): () => void;

  // --- events ---------------------------------------------------------------------------------
  /** Events with id > `after` (oldest first), at most `max`. Null when the job is unknown. */
  readEvents(jobId: string, after: string, max: number): Promise<JobEvent[] | null>;
  /**
   * Delivers every event with id > `after`, in order, then live ones, until unsubscribed.
   * Connection count must not grow with subscriptions. A delivery (one `next` call) ends with a
   * terminal event only when that event was the job's last when read (a retried job's old terminal
   * event comes with what followed it), so the listener may complete there. Ends with
   * JobNotFoundError (`error`) when the job is removed.
   */
  subscribe(jobId: string, after: string, listener: EventListener): () => void;

  // --- watchdog -------------------------------------------------------------------------------
  /**
   * Client activity heartbeat. 'watched': an unfinished watchClient job, touched; 'unwatched': the
   * job exists but nothing watches its client (nothing written); 'missing': unknown job.
   */
  touch(jobId: string): Promise<TouchResult>;
  /**
   * Active jobs whose lease expired before `now` (another process may take them over): requeued
   * with a `stalled` event while they stalled at most `watchdog.maxStalls` times (the attempt is
   * not used up), failed past that; cancel-requested ones → cancelled. The memory backend never
   * reclaims: no other process could take a job over, so no job stalls while its process lives.
   */
  reclaimExpired(now: number): Promise<ReclaimResult>;
  /** Ids of unfinished watchClient jobs whose last client activity is before `idleSince`. */
  idleClientJobs(idleSince: number, max: number): Promise<string[]>;

  // --- operations: queue events, schedules ---
  /**
   * Every event of every job (lifecycle and custom), live, with its job's name, from every process
   * sharing the queue; no history. Returns an unsubscribe function. While nobody listens, event
   * writes must cost (next to) nothing extra.
   */
  onQueueEvent(listener: (event: QueueJobEvent) => void): () => void;
  /** The job's newest events, newest first, at most `max` (empty when the job is unknown). */
  recentEvents(jobId: string, max: number): Promise<JobEvent[]>;
  /** Stores a schedule, replacing one with the same id atomically (its state included). */
  saveSchedule(schedule: StoredSchedule): Promise<void>;
  /** Deletes a schedule; false when there was none. */
  removeSchedule(scheduleId: string): Promise<boolean>;
  /** Every schedule, in no particular order. */
  listSchedules(): Promise<StoredSchedule[]>;
  /** Up to `max` schedules whose `nextAt` is at or before `now`, and the earliest `nextAt` of all. */
  dueSchedules(now: number, max: number): Promise<{ due: StoredSchedule[]; nextAt?: number }>;
  /**
   * One tick, atomically: only when the schedule still has `rev` and `nextAt` (compare-and-set, so
   * of many processes firing the same tick exactly one wins), sets its next tick to `nextAt`
   * (none: it is exhausted), counts it, and adds `job` unless an unfinished job has its id.
   * 'added' / 'exists' (the tick won, the job was there) / 'lost' (another process fired it, or
   * the schedule changed).
   */
  fireSchedule(schedule: StoredSchedule, nextAt: number | undefined, job: NewJob): Promise<'added' | 'exists' | 'lost'>;

  // --- operations: list, retry, remove, clean ---
  /**
   * One page of the jobs in `state`, after `query.after`: waiting in run order (priority desc,
   * then queue position), delayed soonest due first, active oldest start first, finished newest
   * first. `next` is the position of the page's last entry, absent when nothing follows. A page
   * may hold fewer than `limit` jobs while `next` is set (a bounded scan with `name` on a state
   * that is not indexed per name); a job that stays in its state is never repeated nor skipped.
   */
  list(query: ListQuery): Promise<ListPage>;
  /**
   * A finished job back to waiting (behind the jobs already waiting at its priority) or, with
   * `delayMs` > 0, delayed; same id, attempt 0, stalls, error, result, progress, cancel reason and
   * timestamps cleared, retention lifted; appends `queued` {retried: true[, delayMs]}.
   */
  retry(jobId: string, delayMs: number): Promise<RetryResult>;
  /**
   * Deletes a waiting, delayed or finished job with its events and index entries; open event
   * subscriptions of the job end with JobNotFoundError. An active job is left alone ('active').
   */
  remove(jobId: string): Promise<RemoveResult>;
  /** Removes up to `limit` jobs of `state` finished at or before `finishedBefore`, oldest first; returns how many. */
  clean(query: CleanQuery): Promise<number>;
  // --- operations: pause, rate limits ---------------------------------------------------------
  /**
   * Pauses one name, or the whole queue (`name` = QUEUE_LEVEL, see pause-levels.ts), for every
   * process: paused names are not claimed; running jobs and adds are unaffected. Stored (Redis:
   * survives restarts).
   */
  pause(name: string): Promise<void>;
  /** Clears one pause level, and wakes the workers of the names that may run again. */
  resume(name: string): Promise<void>;
  /** The paused levels: QUEUE_LEVEL for the whole queue, and names. */
  paused(): Promise<string[]>;

  // --- events: follow activity ---
  /**
   * Records on each job that a cancel-on-disconnect stream of it is open at `at` (epoch ms of the
   * recording process), for {@link lastFollowedAt}. A time older than the stored one is ignored
   * (writes from several processes may arrive out of order); unknown jobs are skipped.
   */
  recordFollowed(jobIds: string[], at: number): Promise<void>;
  /** The latest time given to {@link recordFollowed} for the job; undefined when none, or the job is unknown. */
  lastFollowedAt(jobId: string): Promise<number | undefined>;
}

/** A schedule as the backends store it: the validated spec plus its tick state. */
export interface StoredSchedule {
  id: string;
  name: string;
  dataJson: string;
  opts: ScheduleOptions;
  /** Epoch ms `everyMs` ticks count from (`startAt`, or when the schedule was stored). */
  anchor: number;
  /** Changes with every `schedule()`: a tick computed from an older version is refused. */
  rev: string;
  count: number;
  nextAt?: number;
}

/**
 * Per role: `command` (every read and write), `pickup` (the idle workers' blocking wait), `cancels`
 * (the cancel channel), `events` (live job events). `unused`: this process never needed it (e.g.
 * `pickup` in a process without handlers); `down`: broken, or (Redis Cluster) on a node that no
 * longer serves the queue.
 */
export type BackendConnectionStates = Record<'command' | 'pickup' | 'cancels' | 'events', 'up' | 'down' | 'unused'>;

export type TouchResult = 'watched' | 'unwatched' | 'missing';

export interface NewJob {
  id: string;
  name: string;
  dataJson: string;
  opts: NormalizedAddOptions;
  createdAt: number;
  /** Trace context of the producer span (serialized propagation carrier), when tracing is on. */
  traceContext?: string;
  /**
   * The id is a random UUID made for this add (no `jobId` given): no job can have it yet, so a
   * backend may skip the idempotency check.
   */
  generatedId?: boolean;
}

export interface ClaimRequest {
  name: string;
  max: number;
  /** At most `max` starts of the name in any `perMs` interval, across every process. */
  rateLimit?: { max: number; perMs: number };
  /** At most this many running jobs of the name across every process. */
  globalConcurrency?: number;
}

/** The fencing pair that proves a worker still owns a job. */
export interface Lease {
  jobId: string;
  token: string;
}

export interface ClaimedJob {
  job: Job;
  token: string;
  timeoutMs?: number;
  backoff?: NormalizedAddOptions['backoff'];
  /** Set when a cancel was requested before the claim landed (race): abort at once. */
  cancelRequested?: string;
  /** The producer's trace context, stored with the job by `add()` (see {@link NewJob.traceContext}). */
  traceContext?: string;
}

export interface ClaimBatch {
  jobs: ClaimedJob[];
  nextDueAt?: number;
}

export type HeartbeatResult = { status: 'ok' } | { status: 'lost' } | { status: 'cancel'; reason: string };

/** One name's entry of {@link QueueBackend.pendingByName}. */
export interface PendingByName {
  name: string;
  waiting: number;
  delayed: number;
}

export interface CancelMessage {
  jobId: string;
  reason: string;
  /** Process id of the canceller, so it can skip its own announcement. */
  origin: string;
  /** Epoch ms when it was sent (for the cancel delivery latency metric); absent from older senders. */
  sentAt?: number;
}

export interface ReclaimResult {
  requeued: string[];
  failed: string[];
  cancelled: string[];
}

export interface EventListener {
  next(events: JobEvent[]): void;
  error(err: Error): void;
}

/** A place in a list order: the sort key of the entry a page ended with. */
export interface ListPosition {
  /** The numeric sort key, as text (-priority, due time, start time or finish time). */
  score: string;
  /** The tie-breaker (byte order), unique within the state. */
  member: string;
}

export interface ListQuery {
  state: JobState;
  name?: string;
  /** 1..1000. */
  limit: number;
  /** Entries strictly after this position (in the state's order). */
  after?: ListPosition;
}

export interface ListPage {
  jobs: Job[];
  next?: ListPosition;
}

export interface CleanQuery {
  state: FinishedJobState;
  /** Epoch ms: jobs with finishedAt <= this. */
  finishedBefore: number;
  name?: string;
  /** Positive; Infinity for no cap. */
  limit: number;
}
