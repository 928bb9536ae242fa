import { QUEUE_LEVEL } from '../pause-levels';
import type { ClaimRequest } from '../queue-backend.interface';

type Limits = Pick<ClaimRequest, 'rateLimit' | 'globalConcurrency'>;

/**
 * The in-memory side of pause, `rateLimit` and `globalConcurrency` (one process: the whole queue
 * lives here). Mirrors the Redis claim script: a name runs when neither it nor the queue is
 * paused, at most `globalConcurrency` of its jobs claimed under the limit are active, and at most
 * `rateLimit.max` of its starts fall in any `perMs` interval (a sliding window of start times).
 * The limits of a name are the ones its last claim request carried (the worker's handler options).
 */
export class MemoryNameLimits {
  private readonly pausedLevels = new Set<string>();
  private readonly limits = new Map<string, Limits>();
  private readonly running = new Map<string, number>();
  /** Start times inside each rate-limited name's window, oldest first. */
  private readonly starts = new Map<string, number[]>();

  pause(level: string): void {
    this.pausedLevels.add(level);
  }

  /** Clears a pause level; true when it was set. */
  resume(level: string): boolean {
    return this.pausedLevels.delete(level);
  }

  paused(): string[] {
    return [...this.pausedLevels].sort();
  }

  isPaused(name: string): boolean {
    return this.pausedLevels.size > 0 && (this.pausedLevels.has(QUEUE_LEVEL) || this.pausedLevels.has(name));
  }

  /** How many of `request.max` jobs may start now (remembers the request's limits for the name). */
  allowance(request: ClaimRequest, now: number): number {
    const { name, rateLimit, globalConcurrency } = request;
    if (rateLimit === undefined && globalConcurrency === undefined) {
      this.limits.delete(name);
      return request.max;
    }
    this.limits.set(name, { rateLimit, globalConcurrency });
    let take = request.max;
    if (globalConcurrency !== undefined) take = Math.min(take, globalConcurrency - (this.running.get(name) ?? 0));
    if (rateLimit !== undefined) take = Math.min(take, rateLimit.max - this.window(name, rateLimit.perMs, now).length);
    return Math.max(0, take);
  }

  /** Records the start of a job of `name` at `now`; true when it counts against `globalConcurrency`. */
  started(name: string, now: number): boolean {
    const limits = this.limits.get(name);
    if (!limits) return false;
    if (limits.rateLimit) this.window(name, limits.rateLimit.perMs, now).push(now);
    if (limits.globalConcurrency === undefined) return false;
    this.running.set(name, (this.running.get(name) ?? 0) + 1);
    return true;
  }

  /** A job that counted against `globalConcurrency` left `active`. */
  left(name: string): void {
    const n = (this.running.get(name) ?? 1) - 1;
    if (n > 0) this.running.set(name, n);
    else this.running.delete(name);
  }

  /** When the rate window of `name` next allows a start, while it is full; else undefined. */
  nextStartAt(name: string, now: number): number | undefined {
    const rateLimit = this.limits.get(name)?.rateLimit;
    if (!rateLimit) return undefined;
    const window = this.window(name, rateLimit.perMs, now);
    return window.length >= rateLimit.max ? window[window.length - rateLimit.max] + rateLimit.perMs : undefined;
  }

  /** True when a waiting job of `name` could not start now. */
  isHeld(name: string, now: number): boolean {
    if (this.isPaused(name)) return true;
    const limits = this.limits.get(name);
    if (!limits) return false;
    return this.allowance({ name, max: 1, ...limits }, now) === 0;
  }

  /** The starts of `name` inside the window ending at `now` (older ones are dropped). */
  private window(name: string, perMs: number, now: number): number[] {
    let times = this.starts.get(name);
    if (!times) this.starts.set(name, (times = []));
    let expired = 0;
    while (expired < times.length && times[expired] <= now - perMs) expired++;
    if (expired > 0) times.splice(0, expired);
    return times;
  }
}
