/** What the soak driver and its worker processes share: the job shape and the IPC reports. */

/** Slots of the `soak` handler per worker process. */
export const SOAK_CONCURRENCY = 3;

/** Data of a `soak` job: `steps` events `stepMs` apart, failing its first `failAttempts` attempts. */
export interface SoakJobData {
  steps: number;
  stepMs: number;
  failAttempts: number;
  /** Ignores its signal (cancel, timeout): its slot stays taken until it settles. */
  stubborn: boolean;
}

/** A worker's reports: every handler run's start (with the slots in use) and end. */
export type SoakReport =
  | { t: 'ready'; pid: number }
  | { t: 'closed'; pid: number }
  | { t: 'start'; jobId: string; runId: string; attempt: number; pid: number; running: number }
  | { t: 'end'; jobId: string; runId: string; pid: number; outcome: 'returned' | 'threw' };
