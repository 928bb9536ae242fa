import type { Cluster, Redis, RedisOptions } from 'ioredis';

/** Options of `JobQueueModule.forRoot()`; every field is optional. */
export interface JobQueueModuleOptions {
  /** Redis URL, ioredis options, or an ioredis `Redis`/`Cluster` instance; omit for the in-memory backend. */
  redis?: string | RedisOptions | Redis | Cluster;
  /** Key prefix (hash tag of every key), default 'jq'. */
  prefix?: string;
  /** Active-job lease in ms; renewed by heartbeat every leaseMs/3. Default 30 000. */
  leaseMs?: number;
  /** Graceful drain on shutdown, ms. Default 30 000. */
  drainTimeoutMs?: number;
  /** After a cancel, how long a handler may take to honour the signal, ms. Default 10 000. */
  cancelGraceMs?: number;
  watchdog?: {
    /** Sweep interval, ms. Default 15 000. */
    intervalMs?: number;
    /** Cancel `watchClient` jobs idle this long, ms; <= 0 disables. Default 90 000. */
    clientTimeoutMs?: number;
    /**
     * How many times a job whose lease expired (its worker died or froze) is requeued before it fails
     * for good; counted apart from `attempts` (a stall does not use up an attempt). Default 1.
     */
    maxStalls?: number;
  };
  events?: {
    /** Per-job event stream bound (approximate on Redis). Default 10 000. */
    maxLen?: number;
    /** How long a finished job and its events are kept, ms. Default 3 600 000. */
    retentionMs?: number;
  };
  /** Backpressure: `add()` rejects with QueueFullError beyond this many waiting (incl. delayed) jobs. */
  maxWaiting?: number;
  /** false: this process adds/streams/cancels but runs no handlers. Default true. */
  worker?: boolean;
  /** Largest job data / result / event payload as JSON, bytes. Default 1 MiB. */
  maxPayloadBytes?: number;
}

/** Options with every default applied: what the providers read. */
export interface ResolvedJobQueueOptions {
  redis?: JobQueueModuleOptions['redis'];
  prefix: string;
  leaseMs: number;
  drainTimeoutMs: number;
  cancelGraceMs: number;
  watchdog: { intervalMs: number; clientTimeoutMs: number; maxStalls: number };
  events: { maxLen: number; retentionMs: number };
  maxWaiting?: number;
  worker: boolean;
  maxPayloadBytes: number;
}
