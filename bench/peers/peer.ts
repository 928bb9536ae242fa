/**
 * One queue library seen through the few operations the side-by-side comparison needs, so every
 * scenario is written once and runs the same way against each library (public API of each only).
 */

/** Payload of every comparison job: its sequence number in the scenario. */
export interface BenchData {
  i: number;
}

/** Called synchronously when a handler starts (the handler then returns at once: a no-op job). */
export type OnStart = (data: BenchData) => void;

export interface PeerProducer {
  /** One job; resolves with its id once the library acknowledged it. */
  add(data: BenchData): Promise<string>;
  /** Many jobs in one library call (to build a backlog quickly). */
  addBulk(data: BenchData[]): Promise<void>;
  /** Adds one job and resolves when this producer (not the worker's connections) sees it completed. */
  addAndWait(data: BenchData): Promise<void>;
  close(): Promise<void>;
}

export interface PeerWorker {
  /** Resolves once `count` jobs run by this worker were acknowledged completed by Redis. */
  completed(count: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface Peer {
  /** Short id used on the command line (`--peers ours,bullmq`). */
  readonly id: PeerId;
  /** Name and version, for the table header. */
  readonly label: string;
  producer(queue: string): Promise<PeerProducer>;
  /** A worker with library defaults except `concurrency`; it starts taking jobs at once. */
  worker(queue: string, concurrency: number, onStart: OnStart): Promise<PeerWorker>;
}

export type PeerId = 'ours' | 'bullmq' | 'bee';

export interface RedisAddress {
  host: string;
  port: number;
}

/** Resolves waiters when a running count reaches their target (completions, handler starts). */
export class Counter {
  private count = 0;
  private readonly waiters: Array<{ target: number; resolve: () => void }> = [];

  get value(): number {
    return this.count;
  }

  increment(): void {
    this.count++;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.count >= this.waiters[i].target) this.waiters.splice(i, 1)[0].resolve();
    }
  }

  reach(target: number): Promise<void> {
    if (this.count >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }
}
