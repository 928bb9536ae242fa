import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { ClaimRequest, ClaimedJob, QueueBackend } from '../backends/queue-backend.interface';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../job-queue.options';
import type { JobAbortedError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import { JobQueueProbes } from '../metrics/job-queue-probes';
import { JobQueueTracing } from '../tracing/job-queue-tracing';
import { EpisodeLogger, describeError } from '../utils/episode-logger';
import { TIMED_OUT, within } from '../utils/within';
import { type CancelLanding, HeldCancels } from './held-cancels';
import { AttemptOutcome, RunningJob } from './running-job';
import { JobEventHooks } from '../queue-events/job-event-hooks';

/** Counters of the worker, part of `metrics()`. */
export interface JobWorkerStats {
  running: boolean;
  active: number;
  activeByName: Record<string, number>;
  /**
   * Handlers still running although their job already ended (they ignored their signal past
   * `cancelGraceMs`, or the lease was lost): each keeps its concurrency slot until it settles.
   */
  overdue: number;
  outcomes: Record<AttemptOutcome, number>;
}

/** Pause after a failed claim, so an unreachable store is not hammered. */
const CLAIM_RETRY_MS = 1_000;
/**
 * Claims on their way at once. With one, the worker and the store take turns: the store answers a
 * claim while the worker waits, then the worker runs the batch while the store idles. With two, the
 * next batch is on its way while one runs (bench/PROFILE.md).
 */
const MAX_CLAIMS_IN_FLIGHT = 2;

/**
 * Runs the handlers of this process: one claim loop that takes the jobs of free slots in batched
 * backend calls (two at most in flight), blocks in the backend when idle instead of polling, renews
 * all leases with one timer, and drains on shutdown.
 */

@Injectable()
export class JobWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('JobWorker');
  private readonly claimErrors = new EpisodeLogger(this.logger, 'Claiming jobs');
  private readonly heartbeatErrors = new EpisodeLogger(this.logger, 'Renewing leases');
  /** Handlers' progress and custom events that could not be written: logged once per outage, not per event. */
  private readonly eventWriteErrors = new EpisodeLogger(this.logger, "Writing handlers' progress and custom events");
  /** Attempts whose outcome is not recorded yet (their leases are renewed), by job id. */
  private readonly running = new Map<string, RunningJob>();
  private readonly overdue = new Set<RunningJob>();
  private readonly activeByName = new Map<string, number>();
  private readonly outcomes: Record<AttemptOutcome, number> = {
    completed: 0,
    failed: 0,
    retrying: 0,
    cancelled: 0,
    released: 0,
    lost: 0,
  };
  private loopDone?: Promise<void>;
  private stopping = false;
  /** Names the loop is blocked on; a freed slot of another name must interrupt the wait. */
  private waitingOn?: Set<string>;
  private wakeLoop?: () => void;
  /** Claims in flight (their replies start jobs). */
  private readonly claims = new Set<Promise<void>>();
  /** Slots asked for by the claims in flight, by name. */
  private readonly reserved = new Map<string, number>();
  /**
   * Names whose latest claim got fewer jobs than it asked for (none left to take): once every name
   * with a free slot is here, the loop blocks in the backend (until `drainedUntil` at most, the
   * earliest due time a claim reported) rather than claim again. A claim that gets all it asked for
   * a name takes it out (more may wait); a wait that ends clears them all.
   */
  private readonly drained = new Set<string>();
  private drainedUntil?: number;
  /** The latest claim answered got all it asked for some name: more jobs wait than it took. */
  private backlog = false;
  private heartbeatTimer?: NodeJS.Timeout;
  private readonly heldCancels = new HeldCancels();

  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly registry: JobHandlerRegistry,
    private readonly hooks: JobEventHooks,
    private readonly probes: JobQueueProbes,
    private readonly tracing: JobQueueTracing,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.options.worker || this.registry.all().length === 0) return;
    this.loopDone = this.loop();
  }

  /** Stop claiming, let running jobs finish for `drainTimeoutMs`, then hand the rest back. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wake();
    // One deadline for the whole drain. Bounded: with the store unreachable, a blocked claim or wait
    // may not return until it is closed; the runs then get what is left (possibly nothing).
    const deadline = Date.now() + this.options.drainTimeoutMs;
    await within(this.loopDone ?? Promise.resolve(), this.options.drainTimeoutMs);
    const runs = Promise.all([...this.running.values()].map((run) => run.done));
    const drained = (await within(runs, Math.max(0, deadline - Date.now()))) !== TIMED_OUT;
    if (!drained) {
      const left = [...this.running.values()];
      this.logger.warn(
        `Drain timed out after ${this.options.drainTimeoutMs} ms: handing ${left.length} job(s) back to the queue.`,
      );
      await Promise.all(left.map((run) => run.release()));
    }
    this.stopHeartbeat();
  }

  /**
   * Aborts a job running in this process and reports, exactly once, where the cancel landed:
   * 'applied' (this call aborted it here), 'already' (it runs here, aborted before) or 'elsewhere'.
   * While a claim is in flight its reply may carry the job: the cancel is held, applied as the job
   * starts, and reported once the claim's jobs started.
   */
  cancelLocal(jobId: string, reason: string, report: (landed: CancelLanding) => void): void {
    const run = this.running.get(jobId);
    if (run && !run.isEnded) return report(run.cancel(reason) ? 'applied' : 'already');
    if (!this.heldCancels.hold(jobId, reason, report)) report('elsewhere');
  }

  /** Ids of the jobs running here (for the dispatcher's resubscribe check). */
  localJobIds(): string[] {
    return [...this.running.keys()];
  }

  stats(): JobWorkerStats {
    return {
      running: !!this.loopDone && !this.stopping,
      active: this.running.size,
      activeByName: Object.fromEntries(this.activeByName),
      overdue: this.overdue.size,
      outcomes: { ...this.outcomes },
    };
  }

  /**
   * Claims while there are free slots, each claim for the slots free when it was sent: one at a time,
   * or up to MAX_CLAIMS_IN_FLIGHT while the claims come back full (a backlog); blocks in the backend
   * once a claim found no more work.
   */
  private async loop(): Promise<void> {
    while (!this.stopping) {
      const requests = this.freeSlots();
      // A second claim only while there is a backlog: with none, it would come back empty.
      if (requests.length === 0 || this.claims.size >= (this.backlog ? MAX_CLAIMS_IN_FLIGHT : 1)) {
        await this.nextChange();
      } else if (requests.some((r) => !this.drained.has(r.name))) {
        // Every name with a free slot is asked, drained or not: new work of a drained name is taken
        // by the claims of a busy one (no name waits while another has a backlog).
        this.sendClaim(requests);
      } else if (this.claims.size > 0) {
        // The claim in flight may still bring jobs, or find more waiting: wait for its reply first.
        await this.nextChange();
      } else {
        const untilAt = this.drainedUntil;
        this.drained.clear();
        this.drainedUntil = undefined;
        await this.waitForWork(requests, untilAt);
      }
    }
    // The jobs of claims still in flight start, so the drain sees (and waits for) them.
    await Promise.all([...this.claims]);
  }

  /** Resolves on the next `wake()`: a slot freed, a claim answered, shutdown. */
  private nextChange(): Promise<void> {
    return new Promise<void>((resolve) => (this.wakeLoop = resolve));
  }

  /**
   * One claim for `requests`, not awaited: its slots are reserved until it answers, then its jobs
   * start. A name that got fewer jobs than it asked for had none left, so the loop may block; only
   * a name that got all it asked for may have more waiting (saves an empty claim per batch). A failed
   * claim counts as drained until CLAIM_RETRY_MS, so an unreachable store is not hammered.
   */
  private sendClaim(requests: ClaimRequest[]): void {
    for (const r of requests) this.reserved.set(r.name, (this.reserved.get(r.name) ?? 0) + r.max);
    const claim: Promise<void> = this.claimAndStart(requests).finally(() => {
      this.claims.delete(claim);
      this.nudge();
    });
    this.claims.add(claim);
  }

  private async claimAndStart(requests: ClaimRequest[]): Promise<void> {
    const claimId = this.heldCancels.beginClaim();
    try {
      const batch = await this.backend.claim(requests, this.options.leaseMs);
      this.claimErrors.recovered();
      const claimedByName = new Map<string, number>();
      for (const claimed of batch.jobs) {
        this.startJob(claimed);
        claimedByName.set(claimed.job.name, (claimedByName.get(claimed.job.name) ?? 0) + 1);
      }
      this.backlog = false;
      for (const r of requests) {
        if ((claimedByName.get(r.name) ?? 0) >= r.max) {
          this.drained.delete(r.name);
          this.backlog = true;
        } else this.drained.add(r.name);
      }
      this.drainUntil(batch.nextDueAt);
    } catch (err) {
      this.claimErrors.failed(err);
      this.backlog = false;
      for (const r of requests) this.drained.add(r.name);
      this.drainUntil(Date.now() + CLAIM_RETRY_MS);
    } finally {
      // Once, after its jobs started (they hold the slots now): nothing reads the slots in between.
      this.unreserve(requests);
      this.heldCancels.endClaim(claimId, (jobId) => this.running.has(jobId));
    }
  }

  private unreserve(requests: ClaimRequest[]): void {
    for (const r of requests) this.reserved.set(r.name, (this.reserved.get(r.name) ?? 0) - r.max);
  }

  private drainUntil(at: number | undefined): void {
    if (at !== undefined && (this.drainedUntil === undefined || at < this.drainedUntil)) this.drainedUntil = at;
  }

  private async waitForWork(requests: ClaimRequest[], untilAt: number | undefined): Promise<void> {
    this.waitingOn = new Set(requests.map((r) => r.name));
    try {
      await this.backend.waitForWork([...this.waitingOn], untilAt);
    } catch (err) {
      this.claimErrors.failed(err);
      await new Promise((resolve) => setTimeout(resolve, CLAIM_RETRY_MS).unref());
    } finally {
      this.waitingOn = undefined;
    }
  }

  /**
   * What the next claim asks for: per name, the slots neither running nor reserved by a claim in
   * flight, at most a share of the name's concurrency (so that, with a backlog, one claim is on its
   * way while the jobs of another run).
   */
  private freeSlots(): ClaimRequest[] {
    const requests: ClaimRequest[] = [];
    for (const handler of this.registry.all()) {
      const taken = (this.activeByName.get(handler.name) ?? 0) + (this.reserved.get(handler.name) ?? 0);
      const free = Math.min(handler.concurrency - taken, Math.ceil(handler.concurrency / MAX_CLAIMS_IN_FLIGHT));
      if (free > 0) {
        requests.push({
          name: handler.name,
          max: free,
          rateLimit: handler.rateLimit,
          globalConcurrency: handler.globalConcurrency,
        });
      }
    }
    return requests;
  }

  private startJob(claimed: ClaimedJob): void {
    const lease = { jobId: claimed.job.id, token: claimed.token };
    const handler = this.registry.get(claimed.job.name);
    if (!handler) {
      // Only a damaged record can name a job we did not ask for: end its attempt, keep the loop going.
      void this.backend
        .fail(
          lease,
          Messages.corruptRecord(lease.jobId, `its name '${claimed.job.name}' has no handler here`),
          undefined,
        )
        .catch(() => undefined);
      return;
    }
    const heldReason = this.heldCancels.reasonFor(lease.jobId);
    if (heldReason !== undefined) claimed = { ...claimed, cancelRequested: claimed.cancelRequested ?? heldReason };
    // A run of the same job left from before a stall lost its lease: stop it before it is replaced.
    this.running.get(lease.jobId)?.lost();
    const run = new RunningJob(
      claimed,
      this.tracing.traced(handler, claimed),
      this.backend,
      this.options,
      {
        slotFreed: (r) => this.onSlotFreed(r),
        overdue: (r, reason) => this.onOverdue(r, reason),
        ended: (r, outcome) => this.onJobEnd(r, outcome),
        wrote: (r, type) => {
          this.eventWriteErrors.recovered();
          this.hooks.notify(r.job.id, type, r.job.name);
        },
        writeFailed: (r, err) => this.eventWriteErrors.failed(new Error(`job '${r.job.id}': ${describeError(err)}`)),
      },
      this.logger,
    );
    this.running.set(claimed.job.id, run);
    this.activeByName.set(handler.name, (this.activeByName.get(handler.name) ?? 0) + 1);
    this.ensureHeartbeat();
    this.hooks.notify(claimed.job.id, 'active', claimed.job.name);
    this.probes.attemptStarted(run.job);
    run.start();
  }

  private onOverdue(run: RunningJob, reason: JobAbortedError | undefined): void {
    this.overdue.add(run);
    // A shutdown hand-back aborts every handler at once: expected, not worth a warning each.
    if (reason?.kind === 'shutdown') return;
    const why =
      reason && reason.kind !== 'lease-lost'
        ? `${reason.kind} not honoured within cancelGraceMs (${this.options.cancelGraceMs} ms)`
        : 'its lease was lost';
    this.logger.warn(Messages.overdueHandler(run.job.id, run.job.name, why));
  }

  private onSlotFreed(run: RunningJob): void {
    this.overdue.delete(run);
    const name = run.job.name;
    this.activeByName.set(name, (this.activeByName.get(name) ?? 1) - 1);
    // A slot of a name the loop is not blocked on opened up: the loop must re-plan its wait.
    if (!this.waitingOn?.has(name)) this.wake();
  }

  private onJobEnd(run: RunningJob, outcome: AttemptOutcome): void {
    this.outcomes[outcome]++;
    // 'released' (shutdown hand-back) and 'lost' wrote no event.
    if (outcome !== 'released' && outcome !== 'lost') this.hooks.notify(run.job.id, outcome, run.job.name);
    this.probes.attemptEnded(run.job, outcome);
    if (this.running.get(run.job.id) === run) this.running.delete(run.job.id);
    if (this.running.size === 0) this.stopHeartbeat();
  }

  /** Slots changed or shutdown began: the loop re-plans, and a wait for work in progress ends. */
  private wake(): void {
    this.nudge();
    if (this.waitingOn) this.backend.interruptWait();
  }

  private nudge(): void {
    const resolve = this.wakeLoop;
    this.wakeLoop = undefined;
    resolve?.();
  }

  private ensureHeartbeat(): void {
    if (this.heartbeatTimer) return;
    this.heartbeatTimer = setInterval(
      () => void this.renewLeases(),
      Math.max(50, Math.floor(this.options.leaseMs / 3)),
    );
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /**
   * One batched call renews every lease here and carries back cancels this process missed. A lease
   * lives until its outcome is recorded, not just until the handler returns: the outcome write may
   * wait out a Redis failover, and the job must not be reclaimed as stalled meanwhile.
   */
  private async renewLeases(): Promise<void> {
    const runs = [...this.running.values()];
    if (runs.length === 0) return;
    try {
      const results = await this.backend.heartbeat(
        runs.map((run) => run.lease),
        this.options.leaseMs,
      );
      this.heartbeatErrors.recovered();
      results.forEach((result, i) => {
        if (result.status === 'lost') runs[i].lost();
        else if (result.status === 'cancel') runs[i].cancel(result.reason);
      });
    } catch (err) {
      this.heartbeatErrors.failed(err);
    }
  }
}
