import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { JobNotFoundError, JobQueueConfigError, JobQueueError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import type { RemoveResult, RetryResult } from '../../interfaces/job-operations.interface';
import { type CancelResult, JOB_STATES, type Job, type JobEvent, type JobState } from '../../interfaces/job.interface';
import type { ResolvedJobQueueOptions } from '../../job-queue.options';
import type { QueueJobEvent } from '../../queue-events/queue-job-event';
import { EpisodeLogger, describeError } from '../../utils/episode-logger';
import type {
  BackendConnectionStates,
  CancelMessage,
  ClaimBatch,
  ClaimRequest,
  CleanQuery,
  EventListener,
  HeartbeatResult,
  Lease,
  ListPage,
  ListQuery,
  NewJob,
  PendingByName,
  QueueBackend,
  ReclaimResult,
  StoredSchedule,
  TouchResult,
} from '../queue-backend.interface';
import { RedisConnections, keyPrefixOf, type RedisBackendLogger, type RedisSource } from './redis-connections';
import { RedisKeys } from './redis-keys';
import { RedisShardClaims } from './redis-shard-claims';
import { listAcrossShards } from './redis-shard-list';
import { PIN_SHARD, RedisShardRouter } from './redis-shard-router';
import { RedisBackend } from './redis.backend';

/**
 * One queue over N hash tags (option `shards`), so over several Redis Cluster masters: N
 * {@link RedisBackend}s, one per shard, sharing one command connection, behind the one contract.
 *
 * Every script call still touches one slot. Where a job lives is the router's decision
 * (RedisShardRouter: the hash of its id, pinned names on one shard); calls about one job go to its
 * shard, a lease's to the shard that issued its token, and calls about the queue to every shard
 * (summed, merged, or shard after shard). Claims and waits across the shards: RedisShardClaims.
 *
 * What holds per shard rather than per queue (README "Redis Cluster"): priority and FIFO order,
 * `maxWaiting` (each shard's add script counts its own waiting jobs), a bulk add's all-or-nothing on
 * QueueFullError, the order of `list()` and `clean()`.
 */
export class RedisShardedBackend implements QueueBackend {
  readonly kind = 'redis' as const;
  readonly router: RedisShardRouter;
  /** The shards' backends, by shard index. */
  readonly parts: readonly RedisBackend[];
  private readonly connections: RedisConnections;
  private readonly claims: RedisShardClaims;
  private readonly byTokenPrefix: ReadonlyMap<string, RedisBackend>;
  /** Where each schedule handed out by dueSchedules was read, so it fires there. */
  private readonly scheduleShards = new WeakMap<StoredSchedule, number>();
  private readonly heartbeatErrors: EpisodeLogger;
  private starting?: Promise<void>;
  private closing?: Promise<void>;

  constructor(options: ResolvedJobQueueOptions, logger: RedisBackendLogger = new Logger('JobQueueRedis')) {
    if (options.redis === undefined) {
      throw new JobQueueConfigError(
        "The Redis backend needs option 'redis' (a URL, ioredis options or an ioredis instance).",
      );
    }
    const source = options.redis as RedisSource;
    const keyPrefix = keyPrefixOf(source);
    this.router = new RedisShardRouter(options.prefix, options.shards);
    const keys = this.router.prefixes.map((prefix) => new RedisKeys(prefix, keyPrefix));
    // The shared connection holds the command connection only; each shard's own roles follow its slot.
    this.connections = new RedisConnections(source, keys[0].base, logger);
    this.parts = keys.map(
      (shardKeys) =>
        new RedisBackend(options, logger, { keys: shardKeys, connections: this.connections.forSlot(shardKeys.base) }),
    );
    this.byTokenPrefix = new Map(this.parts.map((part) => [part.tokenPrefix, part]));
    this.claims = new RedisShardClaims(
      this.parts,
      this.router,
      (key) => this.connections.command.rpush(key, '1'),
      logger,
    );
    this.heartbeatErrors = new EpisodeLogger(logger, 'Renewing leases on a shard');
  }

  start(): Promise<void> {
    this.starting ??= (async () => {
      try {
        const command = await this.connections.open();
        // Each shard's connections listen to the shared client (slot-map refreshes, errors): one listener per shard.
        const max = command.getMaxListeners();
        if (max > 0) command.setMaxListeners(max + this.parts.length);
      } catch (err) {
        await this.connections.close().catch(() => undefined);
        throw new JobQueueError(Messages.redisUnreachable(describeError(err)));
      }
      try {
        await Promise.all(this.parts.map((part) => part.start()));
      } catch (err) {
        await this.close();
        throw err;
      }
    })().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.claims.close();
      await this.starting?.catch(() => undefined);
      await Promise.all(this.parts.map((part) => part.close()));
      await this.connections.close();
    })();
    return this.closing;
  }

  ping(): Promise<number> {
    return this.parts[0].ping();
  }

  /** Per role, the worst of the shards': `down` when one is down, `unused` when all are. */
  async connectionStates(): Promise<BackendConnectionStates> {
    const all = await Promise.all(this.parts.map((part) => part.connectionStates()));
    const worst = (role: keyof BackendConnectionStates) => {
      const states = all.map((states) => states[role]);
      return states.includes('down') ? 'down' : states.includes('up') ? 'up' : 'unused';
    };
    return { command: worst('command'), pickup: worst('pickup'), cancels: worst('cancels'), events: worst('events') };
  }

  // --- producer -------------------------------------------------------------------------------

  /** Jobs grouped by shard, one add per shard in parallel; the reply in the order given. */
  async add(jobs: NewJob[], onCreated?: (job: Job) => void): Promise<Job[]> {
    const byShard = groupIndexes(jobs, (spec) => [this.router.shardOfJob(spec.id, spec.name)]);
    const added = new Array<Job>(jobs.length);
    await Promise.all(
      [...byShard].map(async ([shard, indexes]) => {
        const reply = await this.parts[shard].add(
          indexes.map((i) => jobs[i]),
          onCreated,
        );
        indexes.forEach((index, i) => (added[index] = reply[i]));
      }),
    );
    return added;
  }

  /**
   * A random UUID; for a pinned name one that also hashes to the pinned shard (N draws on average), so
   * looking its job up by id takes one round trip, like any other job's.
   */
  newJobId(name: string): string {
    for (;;) {
      const id = randomUUID();
      if (!this.router.isPinned(name) || this.router.candidates(id)[0] === PIN_SHARD) return id;
    }
  }

  get(jobId: string): Promise<Job | null> {
    return this.onJob(
      jobId,
      (part) => part.get(jobId),
      (job) => job !== null,
    );
  }

  async counts(): Promise<Record<JobState, number>> {
    const all = await Promise.all(this.parts.map((part) => part.counts()));
    return Object.fromEntries(
      JOB_STATES.map((state) => [state, all.reduce((sum, counts) => sum + counts[state], 0)]),
    ) as Record<JobState, number>;
  }

  async pendingByName(): Promise<PendingByName[]> {
    const merged = new Map<string, PendingByName>();
    for (const entries of await Promise.all(this.parts.map((part) => part.pendingByName()))) {
      for (const { name, waiting, delayed } of entries) {
        const sum = merged.get(name) ?? { name, waiting: 0, delayed: 0 };
        merged.set(name, { name, waiting: sum.waiting + waiting, delayed: sum.delayed + delayed });
      }
    }
    return [...merged.values()];
  }

  // --- worker ---------------------------------------------------------------------------------

  claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    return this.claims.claim(requests, leaseMs);
  }

  waitForWork(names: string[], untilAt: number | undefined): Promise<void> {
    return this.claims.waitForWork(names, untilAt);
  }

  interruptWait(): void {
    this.claims.interrupt();
  }

  /**
   * One renewal per shard, in parallel. A shard that fails (e.g. its master is failing over) must not
   * keep the others' leases from being renewed: its leases read 'ok' (nothing to act on) and the
   * failure is logged; only when every shard failed does the call reject.
   */
  async heartbeat(leases: Lease[], leaseMs: number): Promise<HeartbeatResult[]> {
    const byPart = groupIndexes(leases, (lease) => [this.partOfLease(lease)]);
    const results = new Array<HeartbeatResult>(leases.length).fill({ status: 'ok' });
    const settled = await Promise.allSettled(
      [...byPart].map(async ([part, indexes]) => {
        const reply = await part.heartbeat(
          indexes.map((i) => leases[i]),
          leaseMs,
        );
        indexes.forEach((index, i) => (results[index] = reply[i]));
      }),
    );
    const failed = settled.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed.length > 0 && failed.length === settled.length) throw failed[0].reason;
    if (failed.length > 0) this.heartbeatErrors.failed(failed[0].reason);
    else this.heartbeatErrors.recovered();
    return results;
  }

  complete(lease: Lease, resultJson: string): Promise<'completed' | 'cancelled' | 'lost'> {
    return this.partOfLease(lease).complete(lease, resultJson);
  }

  fail(
    lease: Lease,
    error: string,
    retryDelayMs: number | undefined,
  ): Promise<'retrying' | 'failed' | 'cancelled' | 'lost'> {
    return this.partOfLease(lease).fail(lease, error, retryDelayMs);
  }

  finishCancelled(lease: Lease, reason: string): Promise<boolean> {
    return this.partOfLease(lease).finishCancelled(lease, reason);
  }

  release(lease: Lease): Promise<'released' | 'cancelled' | 'failed' | 'lost'> {
    return this.partOfLease(lease).release(lease);
  }

  progress(lease: Lease, valueJson: string): Promise<boolean> {
    return this.partOfLease(lease).progress(lease, valueJson);
  }

  emit(lease: Lease, type: string, dataJson: string | undefined): Promise<boolean> {
    return this.partOfLease(lease).emit(lease, type, dataJson);
  }

  // --- cancel ---------------------------------------------------------------------------------

  cancel(jobId: string, reason: string, origin: string): Promise<CancelResult> {
    return this.onJob(
      jobId,
      (part) => part.cancel(jobId, reason, origin),
      (result) => result !== 'not_found',
    );
  }

  /** Each id asked of every shard that may hold it (one unless names are pinned); the first reason found wins. */
  async cancelRequests(jobIds: string[]): Promise<Array<string | null>> {
    const reasons = new Array<string | null>(jobIds.length).fill(null);
    const byShard = groupIndexes(jobIds, (id) => this.router.candidates(id));
    await Promise.all(
      [...byShard].map(async ([shard, indexes]) => {
        const reply = await this.parts[shard].cancelRequests(indexes.map((i) => jobIds[i]));
        indexes.forEach((index, i) => (reasons[index] ??= reply[i]));
      }),
    );
    return reasons;
  }

  onCancelRequest(listener: (message: CancelMessage) => void, onMalformed?: (why: string) => void): () => void {
    const offs = this.parts.map((part) => part.onCancelRequest(listener, onMalformed));
    return () => offs.forEach((off) => off());
  }

  /** 'up' once every shard's cancel subscription is up; 'down' as soon as one is down (a cancel may be missed there). */
  onSubscriptionState(listener: (state: 'up' | 'down') => void): () => void {
    const states = this.parts.map((): 'up' | 'down' => 'down');
    let reported: 'up' | 'down' = 'down';
    const offs = this.parts.map((part, shard) =>
      part.onSubscriptionState((state) => {
        states[shard] = state;
        const overall = states.every((s) => s === 'up') ? 'up' : 'down';
        if (overall === reported) return;
        reported = overall;
        listener(overall);
      }),
    );
    return () => offs.forEach((off) => off());
  }

  // --- events ---------------------------------------------------------------------------------

  readEvents(jobId: string, after: string, max: number): Promise<JobEvent[] | null> {
    return this.onJob(
      jobId,
      (part) => part.readEvents(jobId, after, max),
      (events) => events !== null,
    );
  }

  /**
   * On the job's shard. When names are pinned the job may be on the pinned shard instead: a
   * subscription that ends with JobNotFoundError before it delivered anything starts over there.
   */
  subscribe(jobId: string, after: string, listener: EventListener): () => void {
    const shards = this.router.candidates(jobId);
    let off: () => void = () => undefined;
    let closed = false;
    const attempt = (i: number) => {
      let delivered = false;
      off = this.parts[shards[i]].subscribe(jobId, after, {
        next: (events) => {
          delivered = true;
          listener.next(events);
        },
        error: (err) => {
          if (closed) return;
          if (!delivered && err instanceof JobNotFoundError && i + 1 < shards.length) return attempt(i + 1);
          listener.error(err);
        },
      });
    };
    attempt(0);
    return () => {
      closed = true;
      off();
    };
  }

  // --- watchdog -------------------------------------------------------------------------------

  touch(jobId: string): Promise<TouchResult> {
    return this.onJob(
      jobId,
      (part) => part.touch(jobId),
      (result) => result !== 'missing',
    );
  }

  async reclaimExpired(now: number): Promise<ReclaimResult> {
    const all = await Promise.all(this.parts.map((part) => part.reclaimExpired(now)));
    return {
      requeued: all.flatMap((r) => r.requeued),
      failed: all.flatMap((r) => r.failed),
      cancelled: all.flatMap((r) => r.cancelled),
    };
  }

  async idleClientJobs(idleSince: number, max: number): Promise<string[]> {
    const all = await Promise.all(this.parts.map((part) => part.idleClientJobs(idleSince, max)));
    return all.flat().slice(0, max);
  }

  // --- operations: queue events, schedules ----------------------------------------------------

  onQueueEvent(listener: (event: QueueJobEvent) => void): () => void {
    const offs = this.parts.map((part) => part.onQueueEvent(listener));
    return () => offs.forEach((off) => off());
  }

  recentEvents(jobId: string, max: number): Promise<JobEvent[]> {
    return this.onJob(
      jobId,
      (part) => part.recentEvents(jobId, max),
      (events) => events.length > 0,
    );
  }

  /** On the schedule's shard (its jobs are created there); a copy on another shard (its name's pin changed) is removed first. */
  async saveSchedule(schedule: StoredSchedule): Promise<void> {
    const shard = this.router.shardOfSchedule(schedule.id, schedule.name);
    const elsewhere = this.router.scheduleCandidates(schedule.id).filter((other) => other !== shard);
    await Promise.all(elsewhere.map((other) => this.parts[other].removeSchedule(schedule.id)));
    await this.parts[shard].saveSchedule(schedule);
  }

  async removeSchedule(scheduleId: string): Promise<boolean> {
    const removed = await Promise.all(
      this.router.scheduleCandidates(scheduleId).map((shard) => this.parts[shard].removeSchedule(scheduleId)),
    );
    return removed.includes(true);
  }

  async listSchedules(): Promise<StoredSchedule[]> {
    return (await Promise.all(this.parts.map((part) => part.listSchedules()))).flat();
  }

  async dueSchedules(now: number, max: number): Promise<{ due: StoredSchedule[]; nextAt?: number }> {
    const all = await Promise.all(this.parts.map((part) => part.dueSchedules(now, max)));
    const due = all.flatMap((reply, shard) => reply.due.map((schedule) => ({ schedule, shard })));
    due.sort((a, b) => (a.schedule.nextAt ?? 0) - (b.schedule.nextAt ?? 0));
    const nextAts = all.flatMap((reply) => (reply.nextAt === undefined ? [] : [reply.nextAt]));
    const picked = due.slice(0, max).map(({ schedule, shard }) => {
      this.scheduleShards.set(schedule, shard);
      return schedule;
    });
    return nextAts.length === 0 ? { due: picked } : { due: picked, nextAt: Math.min(...nextAts) };
  }

  fireSchedule(
    schedule: StoredSchedule,
    nextAt: number | undefined,
    job: NewJob,
  ): Promise<'added' | 'exists' | 'lost'> {
    const shard = this.scheduleShards.get(schedule) ?? this.router.shardOfSchedule(schedule.id, schedule.name);
    return this.parts[shard].fireSchedule(schedule, nextAt, job);
  }

  // --- operations: list, retry, remove, clean -------------------------------------------------

  list(query: ListQuery): Promise<ListPage> {
    return listAcrossShards(this.parts, query);
  }

  retry(jobId: string, delayMs: number): Promise<RetryResult> {
    return this.onJob(
      jobId,
      (part) => part.retry(jobId, delayMs),
      (result) => result !== 'not_found',
    );
  }

  remove(jobId: string): Promise<RemoveResult> {
    return this.onJob(
      jobId,
      (part) => part.remove(jobId),
      (result) => result !== 'not_found',
    );
  }

  /** Shard after shard, each in its own bounded batches, until `limit` jobs are removed. */
  async clean(query: CleanQuery): Promise<number> {
    let removed = 0;
    for (const part of this.parts) {
      if (removed >= query.limit) break;
      removed += await part.clean({ ...query, limit: query.limit - removed });
    }
    return removed;
  }

  // --- operations: pause, rate limits ---------------------------------------------------------
  // Every shard's claim script reads its own `paused` set: a pause is written to all of them.

  async pause(name: string): Promise<void> {
    await Promise.all(this.parts.map((part) => part.pause(name)));
  }

  async resume(name: string): Promise<void> {
    await Promise.all(this.parts.map((part) => part.resume(name)));
  }

  /** The union: a level paused on any shard (e.g. a pause that reached only some shards) is reported. */
  async paused(): Promise<string[]> {
    const all = await Promise.all(this.parts.map((part) => part.paused()));
    return [...new Set(all.flat())].sort();
  }

  // --- events: follow activity ----------------------------------------------------------------

  /** To every shard that may hold each job: the script writes nothing for a job it does not hold. */
  async recordFollowed(jobIds: string[], at: number): Promise<void> {
    const byShard = groupIndexes(jobIds, (id) => this.router.candidates(id));
    await Promise.all(
      [...byShard].map(([shard, indexes]) =>
        this.parts[shard].recordFollowed(
          indexes.map((i) => jobIds[i]),
          at,
        ),
      ),
    );
  }

  lastFollowedAt(jobId: string): Promise<number | undefined> {
    return this.onJob(
      jobId,
      (part) => part.lastFollowedAt(jobId),
      (at) => at !== undefined,
    );
  }

  // --- internals ------------------------------------------------------------------------------

  /**
   * Runs `op` on the job's shard; when it did not find the job there and names are pinned, on the
   * pinned shard too. Returns the first answer that `found` accepts, else the first answer.
   */
  private async onJob<T>(
    jobId: string,
    op: (part: RedisBackend) => Promise<T>,
    found: (answer: T) => boolean,
  ): Promise<T> {
    const [home, ...others] = this.router.candidates(jobId);
    const first = await op(this.parts[home]);
    if (found(first)) return first;
    for (const shard of others) {
      const answer = await op(this.parts[shard]);
      if (found(answer)) return answer;
    }
    return first;
  }

  /** The shard that issued the lease's token; by the job id for a token of another process's life. */
  private partOfLease(lease: Lease): RedisBackend {
    const part = this.byTokenPrefix.get(lease.token.slice(0, lease.token.indexOf('.')));
    return part ?? this.parts[this.router.candidates(lease.jobId)[0]];
  }
}

/** The indexes of `items` by each group `groupsOf` puts them in, in order. */
function groupIndexes<T, K>(items: readonly T[], groupsOf: (item: T) => readonly K[]): Map<K, number[]> {
  const groups = new Map<K, number[]>();
  items.forEach((item, i) => {
    for (const group of groupsOf(item)) {
      const indexes = groups.get(group);
      if (indexes) indexes.push(i);
      else groups.set(group, [i]);
    }
  });
  return groups;
}
