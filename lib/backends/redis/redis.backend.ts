import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { JobQueueConfigError, JobQueueError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import { CancelResult, JOB_STATES, Job, JobEvent, JobState } from '../../interfaces/job.interface';
import type { ResolvedJobQueueOptions } from '../../job-queue.options';
import type {
  CancelMessage,
  ClaimBatch,
  ClaimRequest,
  EventListener,
  HeartbeatResult,
  Lease,
  NewJob,
  PendingByName,
  QueueBackend,
  ReclaimResult,
  TouchResult,
} from '../queue-backend.interface';
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
import { jobFromNew } from '../new-job';
import { type FlatHash, type StreamEntry, newJobArgs, parseClaimed, parseEvent, parseJob } from './redis-job-record';
import { RedisKeys } from './redis-keys';
import { RedisScripts, type ScriptName } from './redis-scripts';
import { RedisWorkWaiter } from './redis-work-waiter';

/** Most expired leases one reclaim script call handles (keeps each call short on the server). */
const RECLAIM_BATCH = 500;
/** Most reclaim calls per sweep; a larger backlog continues on the next sweep. */
const RECLAIM_ROUNDS = 20;
/** Corrupt records are logged once per id; the memory of logged ids is bounded. */
const CORRUPT_LOG_LIMIT = 1_000;
/** Reply codes of complete-1.lua and release-2.lua. */
const COMPLETE_REPLIES = ['lost', 'completed', 'cancelled'] as const;
const RELEASE_REPLIES = ['lost', 'released', 'cancelled'] as const;

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
  private scripts?: RedisScripts;
  private starting?: Promise<void>;
  private closing?: Promise<void>;
  /** Claim tokens: a per-process random part plus a counter; the script appends the job's index. */
  private readonly tokenPrefix = randomBytes(9).toString('base64url');
  private tokenCounter = 0;
  private readonly corruptLogged = new Set<string>();
  private readonly adds = new MicroBatcher((calls: NewJob[][]) => this.addBatch(calls), {
    maxItems: 256,
    maxSize: 1024 * 1024,
    sizeOf: (jobs) => jobs.reduce((sum, spec) => sum + spec.dataJson.length, 0),
  });
  private readonly completions = new MicroBatcher((items: Array<{ lease: Lease; resultJson: string }>) => this.completeBatch(items), {
    maxItems: 256,
    maxSize: 1024 * 1024, // keeps one script call short on the server
    sizeOf: (item) => item.resultJson.length,
  });

  constructor(
    private readonly options: ResolvedJobQueueOptions,
    private readonly logger: RedisBackendLogger = new Logger('JobQueueRedis'),
  ) {
    if (options.redis === undefined) {
      throw new JobQueueConfigError("The Redis backend needs option 'redis' (a URL, ioredis options or an ioredis instance).");
    }
    // The option's public type describes ioredis structurally (the typings must not need ioredis).
    const source = options.redis as RedisSource;
    this.keys = new RedisKeys(options.prefix, keyPrefixOf(source));
    this.connections = new RedisConnections(source, this.keys.base, logger);
    this.waiter = new RedisWorkWaiter(this.connections, this.keys);
    this.cancelChannel = new RedisCancelChannel(this.connections, this.keys.cancelChannel, logger);
    this.reader = new RedisEventReader(this.connections, this.keys, logger, this.reportCorrupt);
  }

  start(): Promise<void> {
    this.starting ??= (async () => {
      const command = await this.connections.open();
      this.scripts = new RedisScripts(command);
    })().catch(async (err: unknown) => {
      this.starting = undefined;
      // Leave no reconnecting client behind, so a failed boot lets the process exit.
      await this.connections.close().catch(() => undefined);
      throw new JobQueueError(Messages.redisUnreachable(err instanceof Error ? err.message : String(err)));
    });
    return this.starting;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.waiter.close();
      this.reader.close();
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

  // --- producer -------------------------------------------------------------------------------

  async add(jobs: NewJob[]): Promise<Job[]> {
    if (jobs.length === 0) return [];
    // Without maxWaiting no add can fail because of another, so the adds of one tick share a call.
    const reply = this.options.maxWaiting === undefined ? await this.adds.push(jobs) : await this.addScript(jobs);
    return jobs.map((spec, i) => {
      const entry = reply[i];
      if (entry === 1) return jobFromNew(spec);
      const existing = parseJob(entry, spec.id, this.reportCorrupt);
      if (!existing) throw new JobQueueError(Messages.corruptRecord(spec.id, 'an unfinished job with this id could not be read'));
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
    return (await this.run('add', [k.seq, k.names, k.clients, k.completed, k.failed, k.cancelled], args)) as Array<1 | FlatHash>;
  }

  async get(jobId: string): Promise<Job | null> {
    return parseJob(await this.command.hgetall(this.keys.job(jobId)), jobId, this.reportCorrupt);
  }

  async counts(): Promise<Record<JobState, number>> {
    const k = this.keys;
    const reply = (await this.run('counts', [k.names, k.active, k.completed, k.failed, k.cancelled], [
      k.base,
      Date.now(),
      this.options.events.retentionMs,
    ])) as number[];
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

  async claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    const args: Array<string | number> = [
      this.keys.base,
      Date.now(),
      leaseMs,
      `${this.tokenPrefix}.${(++this.tokenCounter).toString(36)}`,
      this.options.events.maxLen,
    ];
    for (const { name, max } of requests) args.push(name, Math.max(0, Math.floor(max)));
    if (args.length === 5) return { jobs: [] };
    const [nextDue, ...claimed] = (await this.run('claim', [this.keys.active], args)) as [string, ...Array<string | FlatHash>];
    const batch: ClaimBatch = { jobs: [] };
    if (nextDue !== '') batch.nextDueAt = Number(nextDue);
    for (let i = 0; i + 1 < claimed.length; i += 2) {
      const id = claimed[i] as string;
      const { claimed: job, token } = parseClaimed(id, claimed[i + 1] as FlatHash, this.reportCorrupt);
      if (job) batch.jobs.push(job);
      // Nobody can run an unreadable job: end the attempt now rather than when the lease expires.
      else void this.fail({ jobId: id, token }, Messages.corruptRecord(id, 'it could not be run'), undefined).catch(() => undefined);
    }
    return batch;
  }

  waitForWork(names: string[], untilAt: number | undefined): Promise<void> {
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
    const args: Array<string | number> = [this.keys.base, Date.now(), maxLen, retentionMs];
    for (const { lease, resultJson } of items) args.push(lease.jobId, lease.token, resultJson);
    return (await this.run('complete', [this.keys.active], args)) as Array<0 | 1 | 2>;
  }

  async fail(lease: Lease, error: string, retryDelayMs: number | undefined): Promise<'retrying' | 'failed' | 'cancelled' | 'lost'> {
    const { maxLen, retentionMs } = this.options.events;
    const delay = retryDelayMs === undefined ? '' : Math.max(0, Math.round(retryDelayMs));
    return (await this.runOnJob('fail', lease.jobId, [lease.token, Date.now(), error, delay, maxLen, retentionMs])) as
      | 'retrying'
      | 'failed'
      | 'cancelled'
      | 'lost';
  }

  async finishCancelled(lease: Lease, reason: string): Promise<boolean> {
    const { maxLen, retentionMs } = this.options.events;
    return (await this.runOnJob('finishCancelled', lease.jobId, [lease.token, Date.now(), reason, maxLen, retentionMs])) === 1;
  }

  async release(lease: Lease): Promise<'released' | 'cancelled' | 'lost'> {
    const { maxLen, retentionMs } = this.options.events;
    return RELEASE_REPLIES[(await this.runOnJob('release', lease.jobId, [lease.token, Date.now(), maxLen, retentionMs])) as 0 | 1 | 2];
  }

  async progress(lease: Lease, valueJson: string): Promise<void> {
    await this.runOnJob('progress', lease.jobId, [lease.token, valueJson, this.options.events.maxLen]);
  }

  async emit(lease: Lease, type: string, dataJson: string | undefined): Promise<void> {
    // A script rather than a plain XADD: fenced by the claim token, and published on the job's
    // channel atomically with the append, for live subscribers.
    const args: Array<string | number> = [lease.token, this.options.events.maxLen, type];
    if (dataJson !== undefined) args.push(dataJson);
    await this.runOnJob('emit', lease.jobId, args);
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
    const records = await Promise.all(jobIds.map((id) => this.command.hmget(this.keys.job(id), 'state', 'cancelRequested')));
    return records.map(([state, reason]) => (state === 'active' ? (reason ?? null) : null));
  }

  onCancelRequest(listener: (message: CancelMessage) => void): () => void {
    return this.cancelChannel.onCancel(listener);
  }

  onSubscriptionState(listener: (state: 'up' | 'down') => void): () => void {
    return this.cancelChannel.onState(listener);
  }

  // --- events ---------------------------------------------------------------------------------

  async readEvents(jobId: string, after: string, max: number): Promise<JobEvent[] | null> {
    const start = after === '0' ? '-' : `(${after}`;
    const [exists, entries] = await Promise.all([
      this.command.exists(this.keys.job(jobId)),
      this.command.xrange(this.keys.events(jobId), start, '+', 'COUNT', max) as Promise<StreamEntry[]>,
    ]);
    if (exists === 0) return null;
    return entries.map((entry) => parseEvent(jobId, entry, this.reportCorrupt));
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
      const [requeued, failed, cancelled] = (await this.run('reclaimExpired', [this.keys.active], [
        this.keys.base,
        now,
        maxLen,
        retentionMs,
        RECLAIM_BATCH,
        Messages.stalled('%d'),
        this.options.watchdog.maxStalls,
      ])) as [string[], string[], string[]];
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

  // --- internals ------------------------------------------------------------------------------

  private get command(): RedisClient {
    return this.connections.command;
  }

  private run(name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
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
}

/** Builds the Redis backend from resolved options (`options.redis` must be set). */
export function createRedisBackend(options: ResolvedJobQueueOptions, logger?: RedisBackendLogger): RedisBackend {
  return new RedisBackend(options, logger);
}
