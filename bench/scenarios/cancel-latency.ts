import type { JobQueueService } from '../../lib';
import type { ChildHandle } from '../child-handle';
import { now, sleep, withTimeout } from '../clock';
import type { ChildMessage } from '../protocol';
import { LatencySummary, summarize } from '../stats';

export interface CancelLatencyResult {
  /** cancel() called in this process → abort listener in the worker process, ms. */
  cancelToAborted: LatencySummary;
  /** cancel() call → its promise resolved, ms (for reference). */
  cancelCall: LatencySummary;
}

const WARMUP = 30;
const SAMPLES = 300;

type Started = Extract<ChildMessage, { type: 'started' }>;
type Aborted = Extract<ChildMessage, { type: 'aborted' }>;

/** Starts a job that waits on its signal in `child`, then cancels it from here. */
export async function cancelLatency(jobs: JobQueueService, child: ChildHandle): Promise<CancelLatencyResult> {
  const toAbort: number[] = [];
  const call: number[] = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const started = child.next((m): m is Started => m.type === 'started');
    const job = await jobs.add('hold', { i });
    const s = await withTimeout(started, 5_000, `start of job ${i}`);
    if (s.jobId !== job.id) throw new Error(`expected job ${job.id} to start, got ${s.jobId}`);
    await sleep(2); // let the worker settle (lease written, loop idle)
    const aborted = child.next((m): m is Aborted => m.type === 'aborted' && m.jobId === job.id);
    const t0 = now();
    const result = await jobs.cancel(job.id);
    const t1 = now();
    if (result !== 'cancelling') throw new Error(`cancel of active job ${job.id} returned '${result}'`);
    const a = await withTimeout(aborted, 5_000, `abort of job ${i}`);
    if (i >= WARMUP) {
      toAbort.push(child.toParent(a.at) - t0);
      call.push(t1 - t0);
    }
  }
  return { cancelToAborted: summarize(toAbort), cancelCall: summarize(call) };
}
