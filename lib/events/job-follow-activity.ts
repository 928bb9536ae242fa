import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { QueueBackend } from '../backends/queue-backend.interface';
import { JOB_QUEUE_BACKEND } from '../job-queue.constants';

/** The open cancel-on-disconnect streams of one grace value: open streams per job, and their timer. */
interface FollowGroup {
  readonly jobs: Map<string, number>;
  readonly timer: NodeJS.Timeout;
}

/**
 * Which jobs have a cancel-on-disconnect stream open, as every process sees it: a browser's
 * reconnect may land on another process than the one its client left. Each such stream records
 * "followed now" on its job in the store when it opens, then every third of its route's grace, so
 * at the end of a grace the process that saw the disconnect finds a later time on the job if a
 * stream of it was open on any process meanwhile. One timer per grace value in use and one write
 * per job per tick, however many streams follow the job. The times come from each process's
 * clock: clocks must agree to well within a third of the grace (NTP does). @internal
 */
@Injectable()
export class JobFollowActivity implements OnApplicationShutdown {
  private readonly groups = new Map<number, FollowGroup>();

  constructor(@Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend) {}

  /** Counts a stream of `jobIds` (on a route with this grace) as open from now; call the returned function when it closes. */
  follow(jobIds: string[], graceMs: number): () => void {
    const group = this.groups.get(graceMs) ?? this.openGroup(graceMs);
    for (const jobId of jobIds) group.jobs.set(jobId, (group.jobs.get(jobId) ?? 0) + 1);
    this.record(jobIds);
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      for (const jobId of jobIds) {
        const count = group.jobs.get(jobId)! - 1;
        if (count > 0) group.jobs.set(jobId, count);
        else group.jobs.delete(jobId);
      }
      if (group.jobs.size === 0) this.closeGroup(graceMs, group);
    };
  }

  /** Whether a stream of the job was open after `since` (epoch ms) on any process, this one included. */
  async followedSince(jobId: string, since: number): Promise<boolean> {
    for (const group of this.groups.values()) if (group.jobs.has(jobId)) return true;
    const at = await this.backend.lastFollowedAt(jobId);
    return at !== undefined && at > since;
  }

  /** @internal Streams have ended by now (the interceptor ends them before shutdown); stops what is left. */
  onApplicationShutdown(): void {
    for (const [graceMs, group] of this.groups) this.closeGroup(graceMs, group);
  }

  private openGroup(graceMs: number): FollowGroup {
    const jobs = new Map<string, number>();
    const timer = setInterval(() => this.record([...jobs.keys()]), Math.max(1, Math.floor(graceMs / 3)));
    timer.unref();
    const group = { jobs, timer };
    this.groups.set(graceMs, group);
    return group;
  }

  private closeGroup(graceMs: number, group: FollowGroup): void {
    clearInterval(group.timer);
    if (this.groups.get(graceMs) === group) this.groups.delete(graceMs);
  }

  /** A failed write only makes a later cancel more likely; the next tick writes again. */
  private record(jobIds: string[]): void {
    if (jobIds.length > 0) void this.backend.recordFollowed(jobIds, Date.now()).catch(() => undefined);
  }
}
