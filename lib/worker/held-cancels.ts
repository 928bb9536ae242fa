/** Where a cancel handed to `JobWorker.cancelLocal` landed. */
export type CancelLanding = 'applied' | 'already' | 'elsewhere';

type Report = (landed: CancelLanding) => void;

interface HeldCancel {
  reason: string;
  reports: Report[];
  /** The claims that were in flight when the cancel arrived: only they can bring the job. */
  awaiting: Set<number>;
}

/**
 * Cancels that arrive while claims are in flight, for jobs not running here yet: a claim's reply
 * may carry the job. They are held, applied as the job starts, and reported once every claim that
 * was in flight when the cancel arrived has started its jobs (a job that runs here then was started
 * by one of them). A claim sent after the cancel cannot bring the job: the cancel was written before
 * it was announced, so the job is no longer claimable as it was.
 */
export class HeldCancels {
  private readonly inFlight = new Set<number>();
  private lastClaim = 0;
  private readonly held = new Map<string, HeldCancel>();

  /** A claim was sent; pass the id to `endClaim` once its jobs started. */
  beginClaim(): number {
    const claim = ++this.lastClaim;
    this.inFlight.add(claim);
    return claim;
  }

  /** Holds the cancel while a claim is in flight (true); false when none is: the job runs elsewhere. */
  hold(jobId: string, reason: string, report: Report): boolean {
    if (this.inFlight.size === 0) return false;
    const entry = this.held.get(jobId);
    if (entry) entry.reports.push(report);
    else this.held.set(jobId, { reason, reports: [report], awaiting: new Set(this.inFlight) });
    return true;
  }

  /** The reason of a cancel held for this job, to apply as it starts. */
  reasonFor(jobId: string): string | undefined {
    return this.held.get(jobId)?.reason;
  }

  /**
   * A claim's jobs started: each cancel that no longer waits for a claim is told where it landed;
   * `runsHere` says whether a claim brought the job.
   */
  endClaim(claim: number, runsHere: (jobId: string) => boolean): void {
    this.inFlight.delete(claim);
    for (const [jobId, entry] of this.held) {
      entry.awaiting.delete(claim);
      if (entry.awaiting.size > 0) continue;
      this.held.delete(jobId);
      // One job, one abort: when several cancels of it were held, the first one was applied.
      const here = runsHere(jobId);
      entry.reports.forEach((report, i) => report(!here ? 'elsewhere' : i === 0 ? 'applied' : 'already'));
    }
  }
}
