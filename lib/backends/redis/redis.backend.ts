import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobQueueConfigError, JobQueueError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import { CancelResult, JOB_STATES, Job, JobEvent, JobState } from '../../interfaces/job.interface';
import type { ResolvedJobQueueOptions } from '../../job-queue.options';
import type { RemoveResult, RetryResult } from '../../interfaces/job-operations.interface';
import type {
  BackendConnectionStates,
  CancelMessage,
  CleanQuery,
  ClaimBatch,
  ClaimRequest,
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
import type { QueueJobEvent } from '../../queue-events/queue-job-event';
import { RedisCancelChannel } from './redis-cancel-channel';
import {
  RedisConnections,
  keyPrefixOf,
  type RedisBackendLogger,
  type RedisClient,
  type RedisSource,
} from './redis-connections';
import { MicroBatcher } from '../../utils/micro-batcher';
import { RedisEventReader } from './redis-event-reader';
import { RedisQueueEvents } from './redis-queue-events';
import { jobFromNew } from '../new-job';
import {
  type FlatHash,
  type HistoryPage,
  type StreamEntry,
  newJobArgs,
  parseClaimed,
  parseEvent,
  parseJob,
} from './redis-job-record';
import { RedisKeys } from './redis-keys';
import { RedisScripts, rethrowAsQueueError, type ScriptName } from './redis-scripts';
import { retryWhileMigrating } from './redis-slot-migration';
import { RedisWorkWaiter } from './redis-work-waiter';
import { describeError } from '../../utils/episode-logger';

/** Most expired leases one reclaim script call handles (keeps each call short on the server). */
const RECLAIM_BATCH = 500;
/** Most reclaim calls per sweep; a larger backlog continues on the next sweep. */
const RECLAIM_ROUNDS = 20;
/** Corrupt records are logged once per id; the memory of logged ids is bounded. */
const CORRUPT_LOG_LIMIT = 1_000;
/** Reply codes of complete-1.lua and release-2.lua. */
const COMPLETE_REPLIES = ['lost', 'completed', 'cancelled'] as const;
const RELEASE_REPLIES = ['lost', 'released', 'cancelled', 'failed'] as const;
/** Most finished entries one list call examines when filtering by name (see list-1.lua); > the largest page. */
const LIST_SCAN_BUDGET = 2_000;
/**
 * Most jobs one clean script call removes, and most entries it examines: each removal is a few
 * commands inside the script (a record read, an UNLINK), so a call stays well under a millisecond
 * on an idle server and other clients' commands run between calls (bench/clean-under-load.ts).
 */
const CLEAN_BATCH = 50;
const CLEAN_SCAN_BUDGET = 1_000;
/**
 * Pause between two clean calls: back-to-back calls would keep Redis busy for the whole clean and
 * hold other clients' commands back (bench/clean-under-load.ts measures it; README has the figures).
 */
const CLEAN_PAUSE_MS = 1;

/**
 * The Redis implementation of {@link QueueBackend}: many processes share one queue.
 *
 * Every state change of a job is one Lua script (scripts/*.lua), so it is atomic and costs one
 * round trip; concurrent calls share the command connection.
 * Claims take several jobs per call. This class only maps the contract to the scripts; the
 * connections, the idle wait, the cancel channel and the event reader live in their own files.
 */
export class RedisBackend implements QueueBackend {
  readonly kind = 'redis' as const;
  readonly keys: RedisKeys;
  private readonly connections: RedisConnections;
  private readonly waiter: RedisWorkWaiter;
  private readonly cancelChannel: RedisCancelChannel;
  private readonly reader: RedisEventReader;
  private readonly queueEvents: RedisQueueEvents;
  private scripts?: RedisScripts;
  private starting?: Promise<void>;
  private closing?: Promise<void>;
  /**
   * Claim tokens: a per-instance random part (no '.'), then '.', a counter, '.' and the job's index
   * (appended by the script). The sharded backend routes a lease by it.
   */
  readonly tokenPrefix = randomBytes(9).toString('base64url');
  private tokenCounter = 0;
  private readonly corruptLogged = new Set<string>();
  /**
   * At most 32 add() calls per script call: with more adds in flight than that, two or more calls are
   * on their way at once, so Redis runs one while this process handles the other's reply (one call
   * for all would make them take turns). 64 adds in flight, alternating runs: 26–35k adds/s with 256
   * per call, 42–46k with 32.
   */
  private readonly adds = new MicroBatcher((calls: NewJob[][]) => this.addBatch(calls), {
    maxItems: 32,
    maxSize: 1024 * 1024,
    sizeOf: (jobs) => jobs.reduce((sum, spec) => sum + spec.dataJson.length, 0),
  });
  private readonly completions = new MicroBatcher(
    (items: Array<{ lease: Lease; resultJson: string }>) => this.completeBatch(items),
    {
      maxItems: 256,
      maxSize: 1024 * 1024, // keeps one script call short on the server
      sizeOf: (item) => item.resultJson.length,
    },
  );

  /**
   * @param shard one shard of a sharded queue (see RedisShardedBackend): its keys, and connections
   *   that share the queue's command connection; by default the queue's own, from `options`
   */
  constructor(
    private readonly options: ResolvedJobQueueOptions,
    private readonly logger: RedisBackendLogger = new Logger('JobQueueRedis'),
    shard?: { keys: RedisKeys; connections: RedisConnections },
  ) {
    if (options.redis === undefined) {
      throw new JobQueueConfigError(
        "The Redis backend needs option 'redis' (a URL, ioredis options or an ioredis instance).",
      );
    }
    // The option's public type describes ioredis structurally (the typings must not need ioredis).
    const source = options.redis as RedisSource;
    this.keys = shard?.keys ?? new RedisKeys(options.prefix, keyPrefixOf(source));
    this.connections = shard?.connections ?? new RedisConnections(source, this.keys.base, logger);
    this.waiter = new RedisWorkWaiter(this.connections, this.keys);
    this.cancelChannel = new RedisCancelChannel(this.connections, this.keys.cancelChannel, logger);
    // The live reader's reads are made subscribed: they mark the job as followed (see readHistory).
    this.reader = new RedisEventReader(this.connections, this.keys, logger, this.reportCorrupt, (jobId, after, count) =>
      this.readHistory(jobId, after, count, false, true),
    );
    this.queueEvents = new RedisQueueEvents(this.connections, this.keys.base, logger, this.reportCorrupt);
  }

  start(): Promise<void> {
    this.starting ??= (async () => {
      const command = await this.connections.open();
      this.scripts = new RedisScripts(command, this.keys.migrationGuard);
      await this.scripts.prepare();
    })().catch(async (err: unknown) => {
      this.starting = undefined;
      // Leave no reconnecting client behind, so a failed boot lets the process exit.
      await this.connections.close().catch(() => undefined);
      throw new JobQueueError(Messages.redisUnreachable(describeError(err)));
    });
    return this.starting;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.waiter.close();
      this.reader.close();
      this.queueEvents.close();
      this.cancelChannel.close();
      await this.starting?.catch(() => undefined);
      await this.connections.close();
    })();
    return this.closing;
  }

  async ping(): Promise<number> {
    const started = performance.now();
    await this.command.ping();
    return performance.now() - started;
  }

  async connectionStates(): Promise<BackendConnectionStates> {
    const roles = await this.connections.states();
    return { command: roles.command, pickup: roles.blocking, cancels: roles.subscriber, events: roles.reader };
  }

  // --- producer -------------------------------------------------------------------------------

  async add(jobs: NewJob[], onCreated?: (job: Job) => void): Promise<Job[]> {
    if (jobs.length === 0) return [];
    // Without maxWaiting no add can fail because of another, so the adds of one tick share a call.
    const reply = this.options.maxWaiting === undefined ? await this.adds.push(jobs) : await this.addScript(jobs);
    return jobs.map((spec, i) => {
      const entry = reply[i];
      if (entry === 1) {
        const created = jobFromNew(spec);
        onCreated?.(created);
        return created;
      }
      const existing = parseJob(entry, spec.id, this.reportCorrupt);
      if (!existing)
        throw new JobQueueError(Messages.corruptRecord(spec.id, 'an unfinished job with this id could not be read'));
      return existing;
    });
  }

  /** One add script call for several add() calls of the same tick; each gets its own slice back. */
  private async addBatch(calls: NewJob[][]): Promise<Array<Array<1 | FlatHash>>> {
    const reply = await this.addScript(calls.flat());
    let offset = 0;
    return calls.map((jobs) => reply.slice(offset, (offset += jobs.length)));
  }

  private async addScript(jobs: NewJob[]): Promise<Array<1 | FlatHash>> {
    const k = this.keys;
    const args: Array<string | number> = [k.base, this.options.maxWaiting ?? '', this.options.events.maxLen];
    for (const spec of jobs) args.push(...newJobArgs(spec));
    const keys = [k.seq, k.names, k.clients, k.completed, k.failed, k.cancelled];
    return (await this.run('add', keys, args)) as Array<1 | FlatHash>;
  }

  async get(jobId: string): Promise<Job | null> {
    const record = await this.command.hgetall(this.keys.job(jobId)).catch(rethrowAsQueueError);
    return parseJob(record, jobId, this.reportCorrupt);
  }

  async counts(): Promise<Record<JobState, number>> {
    const k = this.keys;
    const reply = (await this.run(
      'counts',
      [k.names, k.active, k.completed, k.failed, k.cancelled],
      [k.base, Date.now(), this.options.events.retentionMs],
    )) as number[];
    return Object.fromEntries(JOB_STATES.map((state, i) => [state, Number(reply[i] ?? 0)])) as Record<JobState, number>;
  }

  async pendingByName(): Promise<PendingByName[]> {
    const reply = (await this.run('pendingByName', [this.keys.names], [this.keys.base])) as Array<string | number>;
    const pending: PendingByName[] = [];
    for (let i = 0; i + 2 < reply.length; i += 3) {
      pending.push({ name: String(reply[i]), waiting: Number(reply[i + 1]), delayed: Number(reply[i + 2]) });
    }
    return pending;
  }

  // --- worker ---------------------------------------------------------------------------------

  /** Waits out a migration of the queue's slot (a reshard), up to MIGRATION_RETRY_MS. */
  claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    return retryWhileMigrating(() => this.claimNow(requests, leaseMs));
  }

  /**
   * One claim script call: fails at once while the slot migrates (the sharded backend claims
   * elsewhere meanwhile). Completions of this tick that are not sent yet travel with it
   * (complete-claim-1.lua): a worker whose handlers just finished claims their slots again at
   * once, so one script call and one round trip serve both. (A refused call wrote nothing: its
   * completions are rejected, and their writers retry them.)
   */
  async claimNow(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    const groups: Array<string | number> = [];
    for (const { name, max, globalConcurrency, rateLimit } of requests) {
      groups.push(
        name,
        Math.max(0, Math.floor(max)),
        globalConcurrency ?? '',
        rateLimit?.max ?? '',
        rateLimit?.perMs ?? '',
      );
    }
    if (groups.length === 0) return { jobs: [] };
    const now = Date.now();
    const token = `${this.tokenPrefix}.${(++this.tokenCounter).toString(36)}`;
    const { maxLen, retentionMs } = this.options.events;
    const finishing = this.completions.take();
    let reply: [string, ...Array<string | FlatHash>];
    if (finishing) {
      const args = [
        this.keys.base,
        now,
        leaseMs,
        token,
        maxLen,
        retentionMs,
        finishing.items.length,
        ...completionArgs(finishing.items),
        ...groups,
      ];
      try {
        const [completed, ...claimed] = (await this.runOnce('completeClaim', [this.keys.active], args)) as [
          Array<0 | 1 | 2>,
          string,
          ...Array<string | FlatHash>,
        ];
        finishing.resolve(completed);
        reply = claimed;
      } catch (err) {
        finishing.reject(err);
        throw err;
      }
    } else {
      reply = (await this.runOnce(
        'claim',
        [this.keys.active],
        [this.keys.base, now, leaseMs, token, maxLen, ...groups],
      )) as typeof reply;
    }
    const [nextDue, ...claimed] = reply;
    const batch: ClaimBatch = { jobs: [] };
    if (nextDue !== '') batch.nextDueAt = Number(nextDue);
    for (let i = 0; i + 1 < claimed.length; i += 2) {
      const id = claimed[i] as string;
      const { claimed: job, token } = parseClaimed(id, claimed[i + 1] as FlatHash, this.reportCorrupt);
      if (job) batch.jobs.push(job);
      // Nobody can run an unreadable job: end the attempt now rather than when the lease expires.
      else
        void this.fail({ jobId: id, token }, Messages.corruptRecord(id, 'it could not be run'), undefined).catch(
          () => undefined,
        );
    }
    return batch;
  }

  async waitForWork(names: string[], untilAt: number | undefined): Promise<void> {
    await this.waiter.wait(names, untilAt);
  }

  /** {@link waitForWork}, resolving with the wake list a marker was taken from, if one was (the sharded backend reads it). */
  waitForWake(names: string[], untilAt: number | undefined): Promise<string | undefined> {
    return this.waiter.wait(names, untilAt);
  }

  interruptWait(): void {
    this.waiter.interrupt();
  }

  async heartbeat(leases: Lease[], leaseMs: number): Promise<HeartbeatResult[]> {
    if (leases.length === 0) return [];
    const args: Array<string | number> = [this.keys.base, Date.now(), leaseMs];
    for (const lease of leases) args.push(lease.jobId, lease.token);
    const reply = (await this.run('heartbeat', [this.keys.active], args)) as Array<0 | 1 | string>;
    return reply.map((entry): HeartbeatResult => {
      if (typeof entry === 'string') return { status: 'cancel', reason: entry };
      return entry === 1 ? { status: 'ok' } : { status: 'lost' };
    });
  }

  async complete(lease: Lease, resultJson: string): Promise<'completed' | 'cancelled' | 'lost'> {
    return COMPLETE_REPLIES[await this.completions.push({ lease, resultJson })];
  }

  /** One script call for every completion of the same tick (see complete-1.lua). */
  private async completeBatch(items: Array<{ lease: Lease; resultJson: string }>): Promise<Array<0 | 1 | 2>> {
    const { maxLen, retentionMs } = this.options.events;
    const args = [this.keys.base, Date.now(), maxLen, retentionMs, ...completionArgs(items)];
    return (await this.run('complete', [this.keys.active], args)) as Array<0 | 1 | 2>;
  }

  async fail(
    lease: Lease,
    error: string,
    retryDelayMs: number | undefined,
  ): Promise<'retrying' | 'failed' | 'cancelled' | 'lost'> {
    const { maxLen, retentionMs } = this.options.events;
    const delay = retryDelayMs === undefined ? '' : Math.max(0, Math.round(retryDelayMs));
    return (await this.runOnJob('fail', lease.jobId, [lease.token, Date.now(), error, delay, maxLen, retentionMs])) as
      'retrying' | 'failed' | 'cancelled' | 'lost';
  }

  async finishCancelled(lease: Lease, reason: string): Promise<boolean> {
    const { maxLen, retentionMs } = this.options.events;
    return (
      (await this.runOnJob('finishCancelled', lease.jobId, [lease.token, Date.now(), reason, maxLen, retentionMs])) ===
      1
    );
  }

  async release(lease: Lease): Promise<'released' | 'cancelled' | 'failed' | 'lost'> {
    const { maxLen, retentionMs } = this.options.events;
    const args = [lease.token, Date.now(), maxLen, retentionMs, Messages.damagedRecord()];
    return RELEASE_REPLIES[(await this.runOnJob('release', lease.jobId, args)) as 0 | 1 | 2 | 3];
  }

  async progress(lease: Lease, valueJson: string): Promise<boolean> {
    return (await this.runOnJob('progress', lease.jobId, [lease.token, valueJson, this.options.events.maxLen])) === 1;
  }

  async emit(lease: Lease, type: string, dataJson: string | undefined): Promise<boolean> {
    // A script rather than a plain XADD: fenced by the claim token, and published on the job's
    // channel atomically with the append, for live subscribers.
    const args: Array<string | number> = [lease.token, this.options.events.maxLen, type];
    if (dataJson !== undefined) args.push(dataJson);
    // The script answers the new event id, or nil when the token is stale.
    return (await this.runOnJob('emit', lease.jobId, args)) !== null;
  }

  // --- cancel ---------------------------------------------------------------------------------

  async cancel(jobId: string, reason: string, origin: string): Promise<CancelResult> {
    const message: CancelMessage = { jobId, reason, origin, sentAt: Date.now() };
    const { maxLen, retentionMs } = this.options.events;
    return (await this.runOnJob('cancel', jobId, [
      reason,
      Date.now(),
      maxLen,
      retentionMs,
      this.keys.cancelChannel,
      JSON.stringify(message),
    ])) as CancelResult;
  }

  async cancelRequests(jobIds: string[]): Promise<Array<string | null>> {
    // Auto-pipelining sends these as one batch.
    const records = await Promise.all(
      jobIds.map((id) => this.command.hmget(this.keys.job(id), 'state', 'cancelRequested')),
    ).catch(rethrowAsQueueError);
    return records.map(([state, reason]) => (state === 'active' ? (reason ?? null) : null));
  }

  onCancelRequest(listener: (message: CancelMessage) => void, onMalformed?: (why: string) => void): () => void {
    return this.cancelChannel.onCancel(listener, onMalformed);
  }

  onSubscriptionState(listener: (state: 'up' | 'down') => void): () => void {
    return this.cancelChannel.onState(listener);
  }

  // --- events ---------------------------------------------------------------------------------

  async readEvents(jobId: string, after: string, max: number): Promise<JobEvent[] | null> {
    const { exists, entries } = await this.readHistory(jobId, after, max, false).catch(rethrowAsQueueError);
    if (!exists) return null;
    return entries.map((entry) => parseEvent(jobId, entry, this.reportCorrupt));
  }

  /**
   * A page of a job's events: from its stream or, while it has none, derived from its record (lazy
   * streams, see scripts/includes/common.lua). `newest`: the last `count`, newest first. `listen`:
   * the caller is subscribed to the job's channel: the job's lifecycle events are published to it
   * from this read on (unfollowed jobs' are not: the `lsn` hint in common.lua).
   */
  private async readHistory(
    jobId: string,
    after: string,
    count: number,
    newest: boolean,
    listen = false,
  ): Promise<HistoryPage> {
    const args = [after, count, newest ? '1' : '', listen ? '1' : ''];
    const [exists, entries] = (await this.runOnJob('readEvents', jobId, args)) as [number, StreamEntry[]];
    return { exists: exists === 1, entries };
  }

  subscribe(jobId: string, after: string, listener: EventListener): () => void {
    return this.reader.subscribe(jobId, after, listener);
  }

  // --- watchdog -------------------------------------------------------------------------------

  async touch(jobId: string): Promise<TouchResult> {
    const code = await this.run('touch', [this.keys.job(jobId), this.keys.clients], [jobId, Date.now()]);
    return code === 2 ? 'watched' : code === 1 ? 'unwatched' : 'missing';
  }

  async reclaimExpired(now: number): Promise<ReclaimResult> {
    const result: ReclaimResult = { requeued: [], failed: [], cancelled: [] };
    const { maxLen, retentionMs } = this.options.events;
    for (let round = 0; round < RECLAIM_ROUNDS; round++) {
      const [requeued, failed, cancelled] = (await this.run(
        'reclaimExpired',
        [this.keys.active],
        [
          this.keys.base,
          now,
          maxLen,
          retentionMs,
          RECLAIM_BATCH,
          Messages.stalled('%d'),
          this.options.watchdog.maxStalls,
          Messages.damagedRecord(),
        ],
      )) as [string[], string[], string[]];
      result.requeued.push(...requeued);
      result.failed.push(...failed);
      result.cancelled.push(...cancelled);
      if (requeued.length + failed.length + cancelled.length < RECLAIM_BATCH) break;
    }
    return result;
  }

  async idleClientJobs(idleSince: number, max: number): Promise<string[]> {
    return this.command.zrangebyscore(this.keys.clients, '-inf', `(${idleSince}`, 'LIMIT', 0, max);
  }

  // --- operations: list, retry, remove, clean ---

  async list(query: ListQuery): Promise<ListPage> {
    const k = this.keys;
    const index =
      query.state === 'waiting' || query.state === 'delayed'
        ? k.names
        : query.state === 'active'
          ? k.active
          : this.finishedKey(query.state);
    const reply = (await this.run(
      'list',
      [index],
      [
        k.base,
        query.state,
        query.name ?? '',
        query.limit,
        query.after?.score ?? '',
        query.after?.member ?? '',
        Date.now() - this.options.events.retentionMs,
        LIST_SCAN_BUDGET,
      ],
    )) as [string, string, ...Array<string | FlatHash>];
    const [nextScore, nextMember, ...records] = reply;
    const jobs: Job[] = [];
    for (let i = 0; i + 1 < records.length; i += 2) {
      const job = parseJob(records[i + 1] as FlatHash, records[i] as string, this.reportCorrupt);
      if (job) jobs.push(job);
    }
    return nextScore === '' ? { jobs } : { jobs, next: { score: nextScore, member: nextMember } };
  }

  async retry(jobId: string, delayMs: number): Promise<RetryResult> {
    return (await this.runOnJob('retry', jobId, [Date.now(), delayMs, this.options.events.maxLen])) as RetryResult;
  }

  async remove(jobId: string): Promise<RemoveResult> {
    return (await this.runOnJob('remove', jobId, [])) as RemoveResult;
  }

  /** Script calls of at most CLEAN_BATCH removals each, with a pause between: other clients' commands run in between. */
  async clean(query: CleanQuery): Promise<number> {
    let removed = 0;
    let after: [string, string] = ['', ''];
    while (removed < query.limit) {
      const [count, done, lastScore, lastMember] = (await this.run(
        'clean',
        [this.finishedKey(query.state)],
        [
          this.keys.base,
          query.state,
          query.finishedBefore,
          query.name ?? '',
          Math.min(CLEAN_BATCH, query.limit - removed),
          ...after,
          CLEAN_SCAN_BUDGET,
        ],
      )) as [number, number, string, string];
      removed += count;
      if (done === 1) break;
      after = [lastScore, lastMember];
      await sleep(CLEAN_PAUSE_MS);
    }
    return removed;
  }

  private finishedKey(state: 'completed' | 'failed' | 'cancelled'): string {
    return this.keys[state];
  }

  // --- operations: pause, rate limits ---------------------------------------------------------
  // Rate limits and global concurrency live in the claim script and the exit paths (claim-1.lua,
  // leaveRunning in includes/common.lua); pause state is the `paused` set the claim script reads.

  async pause(name: string): Promise<void> {
    await this.command.sadd(this.keys.paused, name);
  }

  async resume(name: string): Promise<void> {
    await this.run('resume', [this.keys.paused], [this.keys.base, name]);
  }

  async paused(): Promise<string[]> {
    return (await this.command.smembers(this.keys.paused)).sort();
  }

  // --- internals ------------------------------------------------------------------------------

  private get command(): RedisClient {
    return this.connections.command;
  }

  /**
   * One script call. While the queue's slot migrates (a reshard) it is refused before it writes
   * anything, and tried again until the move ends (MIGRATION_RETRY_MS at most): cancels, outcomes,
   * heartbeats, events and operations wait a reshard out like adds and claims do.
   */
  private run(name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
    return retryWhileMigrating(() => this.runOnce(name, keys, args));
  }

  /** {@link run} without waiting out a migration (claimNow: the sharded backend claims elsewhere meanwhile). */
  private runOnce(name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (!this.scripts) {
      return Promise.reject(new JobQueueError('The Redis backend is not started: call start() first.'));
    }
    return this.scripts.run(name, keys, args);
  }

  /** Scripts on one job: KEYS = its record and stream, ARGV = prefix, job id, then `args`. */
  private runOnJob(name: ScriptName, jobId: string, args: Array<string | number>): Promise<unknown> {
    const k = this.keys;
    return this.run(name, [k.job(jobId), k.events(jobId)], [k.base, jobId, ...args]);
  }

  /** Logs a corrupt record once per job id; reading it yields null / skips the bad part. */
  private readonly reportCorrupt = (jobId: string, why: string): void => {
    if (this.corruptLogged.has(jobId)) return;
    if (this.corruptLogged.size >= CORRUPT_LOG_LIMIT) this.corruptLogged.clear();
    this.corruptLogged.add(jobId);
    this.logger.warn(Messages.corruptRecord(jobId, why));
  };

  // --- operations: queue events, schedules ---
  // Schedule keys: `{jq}:schedules` (hash: id -> spec JSON), `{jq}:sched-state` (hash: id ->
  // '<rev> <count> <nextAt or ->'), `{jq}:sched-due` (zset: id -> nextAt, only with a next tick).

  onQueueEvent(listener: (event: QueueJobEvent) => void): () => void {
    return this.queueEvents.listen(listener);
  }

  async recentEvents(jobId: string, max: number): Promise<JobEvent[]> {
    const { entries } = await this.readHistory(jobId, '0', max, true);
    return entries.map((entry) => parseEvent(jobId, entry, this.reportCorrupt));
  }

  async saveSchedule(schedule: StoredSchedule): Promise<void> {
    const k = this.scheduleKeys;
    const tx = this.command.multi();
    tx.hset(k.specs, schedule.id, JSON.stringify(scheduleSpec(schedule)));
    tx.hset(k.state, schedule.id, scheduleState(schedule));
    if (schedule.nextAt === undefined) tx.zrem(k.due, schedule.id);
    else tx.zadd(k.due, schedule.nextAt, schedule.id);
    await execOrThrow(tx);
  }

  async removeSchedule(scheduleId: string): Promise<boolean> {
    const k = this.scheduleKeys;
    const [removed] = await execOrThrow(
      this.command.multi().hdel(k.specs, scheduleId).hdel(k.state, scheduleId).zrem(k.due, scheduleId),
    );
    return removed === 1;
  }

  async listSchedules(): Promise<StoredSchedule[]> {
    const k = this.scheduleKeys;
    const [specs, states] = await Promise.all([this.command.hgetall(k.specs), this.command.hgetall(k.state)]);
    return Object.keys(specs).flatMap((id) => this.parseSchedule(id, specs[id], states[id]) ?? []);
  }

  async dueSchedules(now: number, max: number): Promise<{ due: StoredSchedule[]; nextAt?: number }> {
    const k = this.scheduleKeys;
    const [ids, first] = await Promise.all([
      this.command.zrangebyscore(k.due, '-inf', now, 'LIMIT', 0, max),
      this.command.zrange(k.due, 0, 0, 'WITHSCORES'),
    ]);
    const nextAt = first.length === 2 ? Number(first[1]) : undefined;
    if (ids.length === 0) return { due: [], nextAt };
    const [specs, states] = await Promise.all([
      this.command.hmget(k.specs, ...ids),
      this.command.hmget(k.state, ...ids),
    ]);
    const due = ids.flatMap((id, i) => this.parseSchedule(id, specs[i], states[i]) ?? []);
    return { due, nextAt };
  }

  async fireSchedule(
    schedule: StoredSchedule,
    nextAt: number | undefined,
    job: NewJob,
  ): Promise<'added' | 'exists' | 'lost'> {
    const k = this.scheduleKeys;
    const reply = await this.run(
      'fireSchedule',
      [k.state, k.due, this.keys.names],
      [
        this.keys.base,
        this.options.events.maxLen,
        schedule.id,
        schedule.rev,
        String(schedule.nextAt),
        nextAt === undefined ? '' : String(nextAt),
        ...newJobArgs(job),
      ],
    );
    return reply === 2 ? 'added' : reply === 1 ? 'exists' : 'lost';
  }

  private get scheduleKeys(): { specs: string; state: string; due: string } {
    const base = this.keys.base;
    return { specs: `${base}schedules`, state: `${base}sched-state`, due: `${base}sched-due` };
  }

  /** A stored schedule from its spec JSON and state; undefined (logged once) when unreadable. */
  private parseSchedule(
    id: string,
    specJson: string | null | undefined,
    state: string | null | undefined,
  ): StoredSchedule | undefined {
    const match = state ? /^(\S+) (\d+) (\S+)$/.exec(state) : null;
    try {
      if (!specJson || !match) throw new Error('spec or state missing');
      const spec = JSON.parse(specJson) as Omit<StoredSchedule, 'id' | 'rev' | 'count' | 'nextAt'>;
      const schedule: StoredSchedule = { id, ...spec, rev: match[1], count: Number(match[2]) };
      if (match[3] !== '-') schedule.nextAt = Number(match[3]);
      return schedule;
    } catch (err) {
      this.reportCorrupt(`schedule:${id}`, `the schedule could not be read (${describeError(err)})`);
      return undefined;
    }
  }

  // --- events: follow activity ---

  async recordFollowed(jobIds: string[], at: number): Promise<void> {
    await Promise.all(jobIds.map((jobId) => this.run('follow', [this.keys.job(jobId)], [at])));
  }

  async lastFollowedAt(jobId: string): Promise<number | undefined> {
    const at = Number(await this.command.hget(this.keys.job(jobId), 'followedAt'));
    return at > 0 ? at : undefined;
  }
}

/** What `{jq}:schedules` stores per schedule: everything but the tick state. */
function scheduleSpec({
  name,
  dataJson,
  opts,
  anchor,
}: StoredSchedule): Omit<StoredSchedule, 'id' | 'rev' | 'count' | 'nextAt'> {
  return { name, dataJson, opts, anchor };
}

/** What `{jq}:sched-state` stores per schedule (read and advanced by fire-schedule-3.lua). */
function scheduleState({ rev, count, nextAt }: StoredSchedule): string {
  return `${rev} ${count} ${nextAt === undefined ? '-' : nextAt}`;
}

/** Runs a MULTI; a command that failed inside it rejects. */
async function execOrThrow(tx: ReturnType<RedisClient['multi']>): Promise<unknown[]> {
  const replies = (await tx.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  return replies.map(([, value]) => value);
}

/** A completion as the complete scripts take it: jobId, token, resultJson (see complete-jobs.lua). */
function completionArgs(items: Array<{ lease: Lease; resultJson: string }>): string[] {
  const args: string[] = [];
  for (const { lease, resultJson } of items) args.push(lease.jobId, lease.token, resultJson);
  return args;
}
