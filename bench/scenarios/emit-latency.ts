import { Subscription } from 'rxjs';
import type { JobQueueService } from '../../lib';
import type { ChildHandle } from '../child-handle';
import { now, withTimeout } from '../clock';
import type { EmitterData } from '../protocol';
import { LatencySummary, summarize } from '../stats';

export interface EmitLatencyResult {
  jobs: number;
  /** ctx.emit() in the worker process → events() subscriber here, ms. */
  emitToReceive: LatencySummary;
}

const JOBS = 4;
const WARMUP_PER_JOB = 20;
const SAMPLES_PER_JOB = 500;

/** JOBS jobs in `child` emit ticks 2 ms apart concurrently; this process subscribes to each. */
export async function emitLatency(jobs: JobQueueService, child: ChildHandle): Promise<EmitLatencyResult> {
  const latencies: number[] = [];
  const subscriptions: Subscription[] = [];
  const data: EmitterData = { count: WARMUP_PER_JOB + SAMPLES_PER_JOB, gapMs: 2, delayMs: 300 };
  try {
    const done = await Promise.all(
      Array.from({ length: JOBS }, async () => {
        const job = await jobs.add('emitter', data);
        return new Promise<void>((resolve, reject) => {
          subscriptions.push(
            jobs.events(job.id).subscribe({
              next: (event) => {
                if (event.type !== 'tick') return;
                const received = now();
                const { i, t } = event.data as { i: number; t: number };
                if (i >= WARMUP_PER_JOB) latencies.push(received - child.toParent(t));
              },
              error: reject,
              complete: resolve,
            }),
          );
        });
      }),
    );
    await withTimeout(Promise.all(done), 30_000, 'emitter jobs');
  } finally {
    for (const s of subscriptions) s.unsubscribe();
  }
  return { jobs: JOBS, emitToReceive: summarize(latencies) };
}
