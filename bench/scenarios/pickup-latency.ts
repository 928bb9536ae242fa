import type { JobQueueService } from '../../lib';
import type { ChildHandle } from '../child-handle';
import { now, sleep, withTimeout } from '../clock';
import type { ChildMessage } from '../protocol';
import { LatencySummary, summarize } from '../stats';

export interface PickupLatencyResult {
  /** add() called in this process → handler start in the worker process, ms. */
  addToStart: LatencySummary;
  /** add() call → its promise resolved, ms (for reference). */
  addCall: LatencySummary;
}

const WARMUP = 100;
const SAMPLES = 1_000;
/** Pause after each start so the worker is idle (blocked) when the next job arrives. */
const GAP_MS = 2;

type Started = Extract<ChildMessage, { type: 'started' }>;

/** One job at a time: the worker in `child` is idle when each add lands. */
export async function pickupLatency(jobs: JobQueueService, child: ChildHandle): Promise<PickupLatencyResult> {
  const toStart: number[] = [];
  const call: number[] = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    const started = child.next((m): m is Started => m.type === 'started');
    const t0 = now();
    const job = await jobs.add('probe', { i });
    const t1 = now();
    const m = await withTimeout(started, 5_000, `handler start of job ${i}`);
    if (m.jobId !== job.id) throw new Error(`expected job ${job.id} to start, got ${m.jobId}`);
    if (i >= WARMUP) {
      toStart.push(child.toParent(m.at) - t0);
      call.push(t1 - t0);
    }
    await sleep(GAP_MS);
  }
  return { addToStart: summarize(toStart), addCall: summarize(call) };
}
