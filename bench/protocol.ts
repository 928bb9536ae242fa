import type { RedisOptions } from 'ioredis';

/** What bench/child-worker.ts runs (passed as JSON in env BENCH_CHILD). */
export interface ChildConfig {
  redis: RedisOptions;
  /** Seeds of a Redis Cluster: the child connects with an ioredis Cluster (named `redis.connectionName`) instead. */
  cluster?: Array<{ host: string; port: number }>;
  /** Option `shards` of the queue (default 1). */
  shards?: number;
  prefix: string;
  /** Handler names to register, with their concurrency. */
  handlers: Partial<Record<ChildHandlerName, number>>;
}

/**
 * noop: parks on the gate until 'open-gate', then returns at once (throughput).
 * probe: reports 'started' with its start time, returns (add→start latency).
 * hold: reports 'started', waits on its signal, reports 'aborted' from the abort listener.
 * emitter: emits `count` 'tick' events `gapMs` apart, each carrying its emit time.
 */
export type ChildHandlerName = 'noop' | 'probe' | 'hold' | 'emitter';

export interface EmitterData {
  count: number;
  gapMs: number;
  delayMs: number;
}

export type ParentMessage = { type: 'ping'; seq: number } | { type: 'open-gate' } | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready'; pid: number }
  | { type: 'pong'; seq: number; at: number }
  | { type: 'started'; jobId: string; at: number }
  | { type: 'aborted'; jobId: string; at: number }
  | { type: 'fatal'; message: string };
