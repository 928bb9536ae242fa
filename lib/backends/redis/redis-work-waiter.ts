import type Redis from 'ioredis';
import type { RedisKeys } from './redis-keys';
import type { RedisConnections } from './redis-connections';
import { MIGRATION_PAUSE_MAX_MS, isSlotMigrating } from './redis-slot-migration';
import { setTimeout as sleep } from 'node:timers/promises';

/** Longest single BLPOP: waits resolve at least this often (callers loop; spurious wake-ups are allowed). */
const MAX_BLOCK_MS = 5_000;
/** CLIENT UNBLOCK attempts while the BLPOP may not have reached the server yet. */
const UNBLOCK_TRIES = 10;

/**
 * Idle workers block here instead of polling: BLPOP on the `wake:<name>` lists the scripts push
 * a marker to whenever a job of that name becomes claimable (or a delayed one is scheduled), on
 * the process's one blocking connection.
 */
export class RedisWorkWaiter {
  /** The BLPOP in flight. */
  private inflight?: Promise<unknown>;
  /** A wait is under way (possibly still creating the connection, before its BLPOP is sent). */
  private waiting = false;
  private interruptedEarly = false;
  private unblocking = false;
  private generation = 0;
  private connects = 0;
  private closed = false;

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
  ) {
    // After a reconnect ioredis resends the pending BLPOP. But the lost connection may have popped a
    // marker whose reply never arrived (a lost wake-up): end the wait so the worker claims again.
    connections.onConnect('blocking', () => {
      if (++this.connects > 1) this.interrupt();
    });
  }

  /**
   * Resolves when a wake marker for one of `names` arrives (with the wake list it was taken from), at
   * `untilAt`, after 5 s, or on `interrupt()` (with undefined).
   */
  async wait(names: string[], untilAt: number | undefined): Promise<string | undefined> {
    if (this.closed || names.length === 0) return undefined;
    if (this.inflight) {
      // One blocking connection, one BLPOP: end the previous wait first (resolving now is allowed).
      this.interrupt();
      await this.inflight.catch(() => undefined);
      return undefined;
    }
    const timeoutMs = untilAt === undefined ? MAX_BLOCK_MS : Math.min(MAX_BLOCK_MS, untilAt - Date.now());
    if (timeoutMs <= 0) return undefined;
    this.waiting = true;
    this.interruptedEarly = false;
    try {
      const client = (await this.connections.get('blocking')) as Redis;
      if (this.closed || this.interruptedEarly) return undefined;
      const args: Array<string | number> = names.map((name) => this.keys.wake(name));
      args.push((Math.max(1, timeoutMs) / 1000).toFixed(3));
      this.generation++;
      this.inflight = client.call('BLPOP', args);
      const popped = (await this.inflight) as [string, string] | null;
      return popped?.[0];
    } catch (err) {
      // On a Cluster, a failover or a reshard moved the queue's slot: the connection follows it, and
      // the caller claims again (a spurious wake-up) before waiting there.
      if (this.closed || this.connections.redirected('blocking', err)) return undefined;
      // A reshard is moving the slot (ASK, TRYAGAIN): nothing blocks there until it ends. A short pause,
      // then a spurious wake-up: the claim waits the migration out.
      if (isSlotMigrating(err)) {
        await sleep(MIGRATION_PAUSE_MAX_MS);
        return undefined;
      }
      throw err;
    } finally {
      this.inflight = undefined;
      this.waiting = false;
    }
  }

  /** Makes a pending `wait()` resolve now. */
  interrupt(): void {
    if (!this.waiting || this.closed) return;
    if (!this.inflight) {
      this.interruptedEarly = true;
      return;
    }
    if (this.unblocking) return;
    this.unblocking = true;
    const generation = this.generation;
    void (async () => {
      try {
        for (let i = 0; i < UNBLOCK_TRIES; i++) {
          if (this.closed || !this.inflight || this.generation !== generation) break;
          if (await this.connections.unblock('blocking')) break;
          if (this.connections.clientId('blocking') === undefined) break;
        }
      } catch {
        // Command connection down: the BLPOP ends by its own timeout.
      } finally {
        this.unblocking = false;
      }
    })();
  }

  close(): void {
    this.closed = true;
  }
}
