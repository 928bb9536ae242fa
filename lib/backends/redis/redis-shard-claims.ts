import { setTimeout as sleep } from 'node:timers/promises';
import { EpisodeLogger } from '../../utils/episode-logger';
import { timerDelay } from '../../utils/timer-delay';
import type { ClaimBatch, ClaimRequest, ClaimedJob } from '../queue-backend.interface';
import type { RedisBackendLogger } from './redis-connections';
import type { RedisShardRouter } from './redis-shard-router';
import { MIGRATION_PAUSE_MAX_MS, isSlotMigrating } from './redis-slot-migration';
import type { RedisBackend } from './redis.backend';

/**
 * How long claims keep starting at the same shard. Not one shard per call: the completions a claim
 * carries are those of its own shard (complete-claim-1.lua), and with the start moving on every call
 * most completions went in calls of their own (0.23 script calls per job with 3 shards against 0.13
 * unsharded; about a fifth more worker CPU per job). At 15k jobs/s a period is some 750 jobs; a
 * backlog is still taken from every shard in turn, every few tenths of a second.
 */
export const ROTATION_MS = 50;

/** A shard whose claim or wait failed is left alone this long; the other shards go on meanwhile. */
const SHARD_RETRY_MS = 1_000;

/** A BLPOP on one shard, for these names. */
interface ArmedWait {
  readonly names: ReadonlySet<string>;
  readonly key: string;
  cancelled: boolean;
  settled: Promise<void>;
}

/**
 * Claims and waits of one process on a sharded queue (see RedisShardRouter).
 *
 * **Claims.** A claim asks the shards one after the other, each for what the shards before it left of
 * the budget (never in parallel: a process never takes more jobs than it has free slots), starting at
 * a shard that changes every ROTATION_MS, so a backlog is taken from every master in turn; it stops
 * once the budget is used. It skips a shard for a name while that shard is *drained and watched*: its
 * last claim of the name got fewer jobs than asked for (it held none claimable then), and since then
 * this process's BLPOP on the shard's wake list of the name has been pending without a marker (any job
 * that became claimable there pushed one, which that BLPOP or another process's takes; the taker
 * claims). A marker of the name, the due time the claim reported (a delayed job, a rate window), or
 * the BLPOP ending without a marker (the 5 s safety net of an unsharded queue, per shard) ends that.
 * So an idle process that wakes for one job claims on that job's shard only: one script call, as on
 * one Redis; and a process that keeps claiming without waiting asks every shard, as on one Redis.
 *
 * **Waits.** One BLPOP per shard, on the shard's own blocking connection: a shard's wake lists are in
 * its slot, and one BLPOP cannot span slots. They are armed when the worker waits and stay armed across
 * its claims while the names do not change, so a wake-up costs one BLPOP, as on one Redis. A marker
 * taken for a name this process has no free slot for (any more) is pushed back for another process.
 */
export class RedisShardClaims {
  /** Per shard: drained names → the time they may be claimable again without a marker (Infinity: none). */
  private readonly drained: Array<Map<string, number>>;
  /** Per shard: no claim before this time (its last claim or wait failed). */
  private readonly retryAt: number[];
  /** Per shard: bumped on every sign of work; a claim reply that started before one must not mark the shard drained. */
  private readonly signals: number[];
  private readonly armed: Array<ArmedWait | undefined>;
  /** Per shard: while its slot migrates, the watcher that says when it is done (see `failed`). */
  private readonly migrating: Array<Promise<void> | undefined>;
  private readonly errors: EpisodeLogger[];
  /** Names this process has free slots for, as of its last claim or wait: markers of others are pushed back. */
  private interest = new Set<string>();
  /** The names of the wait in progress, if one is. */
  private waitingOn?: string[];
  private wake?: () => void;
  /** Where claims start, until `rotateAt`; a random first shard, so processes started together do not claim in step. */
  private rotation: number;
  private rotateAt = 0;
  private closed = false;

  /**
   * @param parts the shards' backends, by shard index
   * @param pushBack puts a wake marker taken by mistake back on its list
   */
  constructor(
    private readonly parts: readonly RedisBackend[],
    private readonly router: RedisShardRouter,
    private readonly pushBack: (wakeKey: string) => Promise<unknown>,
    private readonly logger: RedisBackendLogger,
  ) {
    const n = parts.length;
    this.drained = Array.from({ length: n }, () => new Map());
    this.retryAt = new Array<number>(n).fill(0);
    this.signals = new Array<number>(n).fill(0);
    this.armed = new Array<ArmedWait | undefined>(n).fill(undefined);
    this.migrating = new Array<Promise<void> | undefined>(n).fill(undefined);
    this.errors = parts.map((part) => new EpisodeLogger(logger, `Claiming jobs on shard ${part.keys.hashTag}`));
    this.rotation = Math.floor(Math.random() * n);
  }

  /** See QueueBackend.claim. Throws only when no job was claimed and a shard failed. */
  async claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    const budget = new Map(requests.map((r) => [r.name, Math.max(0, Math.floor(r.max))]));
    const jobs: ClaimedJob[] = [];
    let failure: unknown;
    const n = this.parts.length;
    const started = Date.now();
    if (started >= this.rotateAt) {
      this.rotation = (this.rotation + 1) % n;
      this.rotateAt = started + ROTATION_MS;
    }
    const first = this.rotation;
    for (let i = 0; i < n && [...budget.values()].some((left) => left > 0); i++) {
      const shard = (first + i) % n;
      const now = Date.now();
      if (this.retryAt[shard] > now || this.migrating[shard]) continue;
      const asks = this.router
        .namesOn(shard, requests)
        .filter((r) => this.mayHaveWork(shard, r.name, now) && budget.get(r.name)! > 0)
        .map((r) => ({ ...r, max: budget.get(r.name)! }));
      if (asks.length === 0) continue;
      const signal = this.signals[shard];
      let batch: ClaimBatch;
      try {
        batch = await this.parts[shard].claimNow(asks, leaseMs);
        this.errors[shard].recovered();
      } catch (err) {
        // A migrating shard is left to its watcher: the others go on, and nothing is thrown for it.
        if (!this.failed(shard, err)) failure ??= err;
        continue;
      }
      const got = new Map<string, number>();
      for (const claimed of batch.jobs) got.set(claimed.job.name, (got.get(claimed.job.name) ?? 0) + 1);
      for (const ask of asks) {
        const count = got.get(ask.name) ?? 0;
        budget.set(ask.name, ask.max - count);
        // Got all it asked for: more may wait there. A sign of work that arrived meanwhile wins too.
        if (count < ask.max && this.signals[shard] === signal)
          this.drained[shard].set(ask.name, batch.nextDueAt ?? Infinity);
        else this.drained[shard].delete(ask.name);
      }
      jobs.push(...batch.jobs);
    }
    if (jobs.length === 0 && failure !== undefined) throw failure;
    this.interest = new Set(requests.filter((r) => budget.get(r.name)! > 0).map((r) => r.name));
    const nextDueAt = this.nextDueAt(requests.map((r) => r.name));
    return nextDueAt === undefined ? { jobs } : { jobs, nextDueAt };
  }

  /** See QueueBackend.waitForWork: resolves at once while a shard may have work for `names`. */
  async waitForWork(names: string[], untilAt: number | undefined): Promise<void> {
    if (this.closed || names.length === 0) return;
    this.interest = new Set(names);
    for (let shard = 0; shard < this.parts.length; shard++) this.arm(shard, names);
    const now = Date.now();
    const ends = untilAt === undefined ? undefined : untilAt - now;
    if ((ends !== undefined && ends <= 0) || this.anyWork(names, now)) return;
    this.wake?.(); // one wait at a time: an earlier one ends now (a spurious wake-up)
    let timer: NodeJS.Timeout | undefined;
    let wake!: () => void;
    const woke = new Promise<void>((resolve) => {
      wake = resolve;
      if (ends !== undefined) timer = setTimeout(resolve, timerDelay(ends));
    });
    this.wake = wake;
    this.waitingOn = names;
    try {
      await woke;
    } finally {
      clearTimeout(timer);
      if (this.wake === wake) {
        this.wake = undefined;
        this.waitingOn = undefined;
      }
    }
  }

  /** Ends the wait in progress (its armed BLPOPs stay, for the next one). */
  interrupt(): void {
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** False while `shard` is drained and watched for `name` (see the class comment). */
  private mayHaveWork(shard: number, name: string, now: number): boolean {
    const until = this.drained[shard].get(name);
    const armed = this.armed[shard];
    return until === undefined || until <= now || !armed || armed.cancelled || !armed.names.has(name);
  }

  /** A shard that is not failing may have a claimable job of one of `names`. */
  private anyWork(names: string[], now: number): boolean {
    return this.parts.some(
      (_, shard) =>
        this.retryAt[shard] <= now &&
        !this.migrating[shard] &&
        this.namesOn(shard, names).some((name) => this.mayHaveWork(shard, name, now)),
    );
  }

  /**
   * A claim or wait on `shard` failed: logged once per episode. While its slot migrates (a reshard) a
   * watcher retries a read-only script until it runs again, then wakes the claims (true); other failures
   * leave the shard alone for SHARD_RETRY_MS (false).
   */
  private failed(shard: number, err: unknown): boolean {
    if (!isSlotMigrating(err)) {
      this.errors[shard].failed(err);
      this.retryAt[shard] = Date.now() + SHARD_RETRY_MS;
      return false;
    }
    // A reshard is an operator's planned move, not a failure: said once, as information.
    if (!this.migrating[shard]) {
      this.logger.log(
        `Shard ${this.parts[shard].keys.hashTag} is moving to another Redis Cluster master: its claims wait until the move ends; the other shards go on.`,
      );
    }
    // The script calls of a migrating slot are refused before they run (see RedisScripts), and ioredis
    // retries them for a while before giving up: a claim sweep must not wait on that.
    this.migrating[shard] ??= (async () => {
      while (!this.closed) {
        try {
          await this.parts[shard].pendingByName();
          return;
        } catch (probeErr) {
          if (!isSlotMigrating(probeErr)) return;
          await sleep(MIGRATION_PAUSE_MAX_MS);
        }
      }
    })().finally(() => {
      this.migrating[shard] = undefined;
      this.drained[shard].clear();
      this.signals[shard]++;
      this.wake?.();
    });
    return true;
  }

  private namesOn(shard: number, names: string[]): string[] {
    return this.router
      .namesOn(
        shard,
        names.map((name) => ({ name })),
      )
      .map(({ name }) => name);
  }

  /** The earliest time a drained or failing shard must be claimed from again, for these names. */
  private nextDueAt(names: string[]): number | undefined {
    let next = Infinity;
    for (let shard = 0; shard < this.parts.length; shard++) {
      if (this.retryAt[shard] > Date.now()) next = Math.min(next, this.retryAt[shard]);
      for (const name of names) next = Math.min(next, this.drained[shard].get(name) ?? Infinity);
    }
    return next === Infinity ? undefined : next;
  }

  /** Keeps a BLPOP on `shard` for the names of `names` that live there (re-armed when they change). */
  private arm(shard: number, names: string[]): void {
    const here = this.namesOn(shard, names);
    const key = here.join('\n');
    const current = this.armed[shard];
    if (current && !current.cancelled && current.key === key) return;
    if (current && !current.cancelled) {
      current.cancelled = true;
      this.parts[shard].interruptWait();
    }
    if (here.length === 0 || this.retryAt[shard] > Date.now() || this.migrating[shard]) {
      this.armed[shard] = undefined;
      return;
    }
    const armed: ArmedWait = { names: new Set(here), key, cancelled: false, settled: Promise.resolve() };
    // One BLPOP per connection: the new one starts once the cancelled one returned.
    armed.settled = (current?.settled ?? Promise.resolve()).then(async () => {
      if (armed.cancelled || this.closed) return;
      try {
        this.woke(shard, armed, await this.parts[shard].waitForWake(here, undefined));
      } catch (err) {
        this.failed(shard, err);
        this.woke(shard, armed, undefined);
      }
    });
    this.armed[shard] = armed;
  }

  /** A shard's BLPOP returned: with the wake list a marker came from, or undefined (timeout, reconnect, failure). */
  private woke(shard: number, armed: ArmedWait, popped: string | undefined): void {
    if (this.armed[shard] === armed) this.armed[shard] = undefined;
    if (armed.cancelled || this.closed) return;
    if (popped === undefined) {
      this.drained[shard].clear();
    } else {
      const name = popped.slice(this.parts[shard].keys.wake('').length);
      if (!this.interest.has(name)) {
        // Not ours (no free slot for it here any more): another process may be blocked on it.
        void this.pushBack(popped).catch((err: unknown) => this.errors[shard].failed(err));
        if (this.waitingOn)
          this.arm(
            shard,
            this.waitingOn.filter((n) => this.interest.has(n)),
          );
        return;
      }
      this.drained[shard].delete(name);
    }
    this.signals[shard]++;
    this.wake?.();
  }
}
