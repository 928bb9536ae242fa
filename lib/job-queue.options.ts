import type { ConfigurableModuleAsyncOptions } from '@nestjs/common';

/**
 * The ioredis connection options most apps set, described here rather than imported so that the
 * package's typings compile without ioredis installed (a memory-only app needs none). Any other
 * ioredis option may be given too: the object is handed to ioredis as it is.
 */
export interface JobQueueRedisConnectionOptions {
  host?: string;
  port?: number;
  /** Unix socket path. */
  path?: string;
  username?: string;
  password?: string;
  db?: number;
  /** Folded into the queue's key names (see the README's Redis internals). */
  keyPrefix?: string;
  /** Our connections are named `<connectionName>:<role>`; default `job-queue`. */
  connectionName?: string;
  tls?: object;
  lazyConnect?: boolean;
}

/**
 * Option `redis` as an object: a variable typed with ioredis' own `RedisOptions` fits the first
 * member; an object literal with further ioredis options (e.g. `maxRetriesPerRequest`) fits the second.
 */
export type JobQueueRedisOptions =
  JobQueueRedisConnectionOptions | (JobQueueRedisConnectionOptions & { readonly [ioredisOption: string]: unknown });

/** What the queue needs of a user's ioredis `Redis` or `Cluster` instance: it is only ever duplicated. */
export interface JobQueueRedisClient {
  readonly isCluster: boolean;
  duplicate(...args: never[]): unknown;
}

/**
 * What the queue needs of a prom-client `Registry` (described here rather than imported, so that
 * the typings compile without prom-client installed).
 */
export interface JobQueueMetricsRegistry {
  getSingleMetric(name: string): unknown;
  registerMetric(metric: never): void;
}

/** Option `metrics`: `false`, or where the Prometheus metrics are registered. */
export interface JobQueueMetricsOptions {
  /** A prom-client `Registry`; default prom-client's default registry (`register`). */
  registry?: JobQueueMetricsRegistry;
}

/**
 * Option `shards` as an object: how many hash tags one queue is spread over, and the names kept on
 * one of them (README "Redis Cluster: one queue over several masters").
 */
export interface JobQueueShardsOptions {
  /** Number of shards (hash tags), 1-128. 1 is the single-tag layout `{prefix}`. */
  count: number;
  /**
   * Job names whose jobs all live on the queue's first shard: required for every name with a
   * `rateLimit` or `globalConcurrency` (its limits stay exact across processes); priority and FIFO
   * order hold across these names as on one Redis. Every process must list the same names.
   */
  pin?: readonly string[];
}

/** Options of `JobQueueModule.forRoot()`; every field is optional. */
export interface JobQueueModuleOptions {
  /**
   * Redis URL, ioredis options, or an ioredis `Redis`/`Cluster` instance (duplicated, never closed);
   * omit for the in-memory backend. Needs the optional peer `ioredis` installed.
   */
  redis?: string | JobQueueRedisOptions | JobQueueRedisClient;
  /** Key prefix (hash tag of every key), default 'jq'. */
  prefix?: string;
  /**
   * Redis (Cluster): spreads one queue's jobs over N hash tags, so over several masters; a number is
   * `{ count: N }`. Default 1 (every key under `{prefix}`). Every process of a queue must use the same
   * value; changing it moves the keys (drain first). Ignored by the in-memory backend.
   */
  shards?: number | JobQueueShardsOptions;
  /** Active-job lease in ms; renewed by heartbeat every leaseMs/3. Default 30 000. */
  leaseMs?: number;
  /** Graceful drain on shutdown, ms. Default 30 000. */
  drainTimeoutMs?: number;
  /** After a cancel, how long a handler may take to honour the signal, ms. Default 10 000. */
  cancelGraceMs?: number;
  watchdog?: {
    /** Sweep interval, ms. Default 15 000. */
    intervalMs?: number;
    /** Cancel `watchClient` jobs idle this long, ms; `<= 0` disables. Default 90 000. */
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
  /**
   * Prometheus metrics (README "Metrics"): on whenever the optional peer `prom-client` is installed,
   * on its default registry or on `metrics.registry`; `false` turns them off.
   */
  metrics?: false | JobQueueMetricsOptions;
}

/** Options with every default applied: what the providers read. */
export interface ResolvedJobQueueOptions {
  redis?: JobQueueModuleOptions['redis'];
  prefix: string;
  shards: { count: number; pin: readonly string[] };
  leaseMs: number;
  drainTimeoutMs: number;
  cancelGraceMs: number;
  watchdog: { intervalMs: number; clientTimeoutMs: number; maxStalls: number };
  events: { maxLen: number; retentionMs: number };
  maxWaiting?: number;
  worker: boolean;
  maxPayloadBytes: number;
  metrics: false | JobQueueMetricsOptions;
}

/**
 * A class for `JobQueueModule.forRootAsync({ useClass })` (or `useExisting`): Nest instantiates it
 * and calls `createJobQueueOptions()`.
 */
export interface JobQueueOptionsFactory {
  createJobQueueOptions(): JobQueueModuleOptions | Promise<JobQueueModuleOptions>;
}

/**
 * Options of `JobQueueModule.forRootAsync()`: `useFactory` (with `inject`), `useClass` or
 * `useExisting` (a {@link JobQueueOptionsFactory}), `imports`, and `isGlobal` (default true).
 */
export type JobQueueModuleAsyncOptions = ConfigurableModuleAsyncOptions<
  JobQueueModuleOptions,
  keyof JobQueueOptionsFactory
> & {
  /** false: import JobQueueModule into each module that injects its providers. Default true. */
  isGlobal?: boolean;
};
