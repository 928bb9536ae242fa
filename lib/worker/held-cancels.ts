/** Where a cancel handed to `JobWorker.cancelLocal` landed. */
export type CancelLanding = 'applied' | 'already' | 'elsewhere';

type Report = (landed: CancelLanding) => void;

/**
 * Cancels that arrive while a claim is in flight, for jobs not running here yet: the claim's reply
 * may carry the job. They are held, applied as the job starts, and reported once the claim's jobs
 * started (a job that runs here then was started by that claim).
 */
export class HeldCancels {
  private claiming = false;
  private readonly held = new Map<string, { reason: string; reports: Report[] }>();

  beginClaim(): void {
    this.claiming = true;
  }

  /** Holds the cancel while a claim is in flight (true); false when none is: the job runs elsewhere. */
  hold(jobId: string, reason: string, report: Report): boolean {
    if (!this.claiming) return false;
    const entry = this.held.get(jobId);
    if (entry) entry.reports.push(report);
    else this.held.set(jobId, { reason, reports: [report] });
    return true;
  }

  /** The reason of a cancel held for this job, to apply as it starts. */
  reasonFor(jobId: string): string | undefined {
    return this.held.get(jobId)?.reason;
  }

  /** Ends the claim and tells each holder where its cancel landed; `runsHere` says if the claim brought the job. */
  endClaim(runsHere: (jobId: string) => boolean): void {
    this.claiming = false;
    const held = [...this.held];
    this.held.clear();
    for (const [jobId, { reports }] of held) {
      // One job, one abort: when several cancels of it were held, the first one was applied.
      const here = runsHere(jobId);
      reports.forEach((report, i) => report(!here ? 'elsewhere' : i === 0 ? 'applied' : 'already'));
    }
  }
}
