import type { CancelResult, Job, JobEvent, JobState } from '../interfaces/job.interface';
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

  // --- producer -------------------------------------------------------------------------------
  /**
   * Adds jobs in order. A job whose `id` already exists and is not finished is returned as is
   * (idempotency); a finished one is replaced. Throws QueueFullError (adding none) when
   * `maxWaiting` would be exceeded. Writes a `queued` event for each new job.
   */
  add(jobs: NewJob[]): Promise<Job[]>;
  get(jobId: string): Promise<Job | null>;
  counts(): Promise<Record<JobState, number>>;
  /** Waiting and delayed jobs per name, for the names that have any (cost bounded by the number of names). */
  pendingByName(): Promise<PendingByName[]>;

  // --- worker ---------------------------------------------------------------------------------
  /**
   * Promotes due delayed jobs, then claims up to `max` waiting jobs per name (priority desc, FIFO),
   * each with a fresh fencing token and a lease of `leaseMs`. Writes an `active` event per claim.
   * `nextDueAt` is the earliest due time of a delayed job among the names, when there is one.
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
  fail(lease: Lease, error: string, retryDelayMs: number | undefined): Promise<'retrying' | 'failed' | 'cancelled' | 'lost'>;
  /** active → cancelled (after the handler honoured or ignored a cancel). False when the token is stale. */
  finishCancelled(lease: Lease, reason: string): Promise<boolean>;
  /**
   * Shutdown hand-back: active → waiting at the front of its priority, attempt not consumed
   * ('released'); a job with a pending cancel is finished cancelled instead ('cancelled').
   */
  release(lease: Lease): Promise<'released' | 'cancelled' | 'lost'>;
  /** Records progress on the job and appends a `progress` event; ignored when the token is stale. */
  progress(lease: Lease, valueJson: string): Promise<void>;
  /** Appends a custom event; ignored when the token is stale (fenced like progress). The type is already validated. */
  emit(lease: Lease, type: string, dataJson: string | undefined): Promise<void>;

  // --- cancel ---------------------------------------------------------------------------------
  /**
   * waiting/delayed → cancelled atomically ('cancelled'); active → cancel requested on the record
   * and announced to every process ('cancelling'); finished → 'already_finished'.
   */
  cancel(jobId: string, reason: string, origin: string): Promise<CancelResult>;
  /** For active jobs: the pending cancel reason per id (null when none), read from the records. */
  cancelRequests(jobIds: string[]): Promise<Array<string | null>>;
  /** Live cancel announcements from other processes. Returns an unsubscribe function. */
  onCancelRequest(listener: (message: CancelMessage) => void): () => void;
  /** Connection state of the cancel subscription (always 'up' in memory). */
  onSubscriptionState(listener: (state: 'up' | 'down') => void): () => void;

  // --- events ---------------------------------------------------------------------------------
  /** Events with id > `after` (oldest first), at most `max`. Null when the job is unknown. */
  readEvents(jobId: string, after: string, max: number): Promise<JobEvent[] | null>;
  /**
   * Delivers every event with id > `after`, in order, then live ones, until unsubscribed.
   * Connection count must not grow with subscriptions.
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
}

export type TouchResult = 'watched' | 'unwatched' | 'missing';

export interface NewJob {
  id: string;
  name: string;
  dataJson: string;
  opts: NormalizedAddOptions;
  createdAt: number;
  /** Trace context of the producer span (serialized propagation carrier), when tracing is on. */
  traceContext?: string;
}

export interface ClaimRequest {
  name: string;
  max: number;
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
