/** The life-cycle state of a job. `completed`, `failed` and `cancelled` are terminal. */
export type JobState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'cancelled';

/** Every state, in a stable order (used for counts and validation). */
export const JOB_STATES: readonly JobState[] = ['waiting', 'delayed', 'active', 'completed', 'failed', 'cancelled'];

/** States after which a job never runs again. */
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(['completed', 'failed', 'cancelled']);

/** Outcome of {@link JobQueueService.cancel}. */
export type CancelResult = 'cancelled' | 'cancelling' | 'not_found' | 'already_finished';

/** Retry delay policy between attempts. */
export interface BackoffOptions {
  type: 'fixed' | 'exponential';
  /** Base delay in ms (fixed: every retry; exponential: delayMs * 2^(attempt-1)). */
  delayMs: number;
  /** Upper bound for exponential delays. */
  maxDelayMs?: number;
}

/** Options for one job, given to `add()` / `addBulk()`. */
export interface AddOptions {
  /** Idempotency key: adding an id whose job is not finished returns that job. */
  jobId?: string;
  /** Higher runs first; default 0; FIFO within one priority. Integer in [-1e6, 1e6]. */
  priority?: number;
  /** Run no earlier than now + delayMs. */
  delayMs?: number;
  /** Total tries, default 1. */
  attempts?: number;
  backoff?: BackoffOptions;
  /** Abort the handler after this long; the attempt fails (and may be retried). */
  timeoutMs?: number;
  /** Cancel with reason 'client-gone' when no touch/poll/stream for `watchdog.clientTimeoutMs`. */
  watchClient?: boolean;
  /** Opaque owner id stored on the job, for authorization checks. */
  owner?: string;
}

/** A job as users see it: a snapshot of its record. */
export interface Job<T = unknown, R = unknown> {
  id: string;
  name: string;
  data: T;
  state: JobState;
  attempt: number;
  attempts: number;
  priority: number;
  owner?: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  progress?: unknown;
  result?: R;
  error?: string;
  cancelReason?: string;
}

/** Lifecycle event types written by the queue itself; `ctx.emit` refuses them. */
export const LIFECYCLE_EVENT_TYPES = [
  'queued',
  'active',
  'progress',
  'retrying',
  'stalled',
  'completed',
  'failed',
  'cancelled',
] as const;
export type LifecycleEventType = (typeof LIFECYCLE_EVENT_TYPES)[number];

/** Event types after which a job's stream ends. */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** One entry of a job's ordered event stream. */
export interface JobEvent {
  /** Strictly increasing within a job (`<ms>-<seq>`); usable as SSE id and as `after`. */
  id: string;
  jobId: string;
  type: LifecycleEventType | string;
  /** Epoch ms. */
  at: number;
  data?: unknown;
}

/** What a handler receives besides the job. */
export interface JobContext {
  /** Aborted on cancel, timeout, client-gone and shutdown; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** 1-based attempt number. */
  readonly attempt: number;
  /** Appends a custom event to the job's stream. Ordered; need not be awaited. */
  emit(type: string, data?: unknown): Promise<void>;
  /** Records progress on the job and emits a `progress` event. */
  progress(value: number | object): Promise<void>;
}

/** Page of events returned by `poll()`. */
export interface JobEventPage {
  events: JobEvent[];
  /** Pass as `after` to get the next page. */
  next: string;
  /** True once the terminal event is in `events` or was before `after`. */
  done: boolean;
}
