import { performance } from 'node:perf_hooks';
import { Subscription } from 'rxjs';
import type { JobEvent } from '../../lib';
import { now, sleep, withTimeout } from '../clock';
import { BenchContext, addBacklog, redisOptions } from '../context';
import { createQueueApp } from '../queue-app';
import { measureCost } from '../redis-probe';
import { LatencySummary, summarize } from '../stats';

export interface SubscriptionsResult {
  subscriptions: number;
  /** Time to open them all until each delivered its history (the 'queued' event). */
  openMs: number;
  redisConnections: {
    /** Every connection the server has (the bench's probe included; other bench processes are stopped by now). */
    total: number;
    /** Connections named after this process (connectionName 'bench-subs' → 'bench-subs:<role>'). */
    thisProcess: number;
    byName: Record<string, number>;
  };
  /** Growth while the subscriptions are open (no forced GC: approximate). */
  memory: { rssMB: number; heapUsedMB: number; redisUsedMB?: number };
  /** With all subscriptions open: cancel() of a waiting job → its 'cancelled' event at the subscriber, ms. */
  liveEventLatency: LatencySummary;
  /** Per live sample (cancel + its event): Redis CPU, this process's CPU (µs) and Redis commands. */
  liveEventCost: { redisCpuUs?: number; processCpuUs: number; redisCommands?: Record<string, number> };
}

const SUBSCRIPTIONS = Number(process.env.BENCH_SUBSCRIPTIONS ?? 10_000);
const LIVE_SAMPLES = 100;
const NAME = 'bench-subs';
const MB = 1024 * 1024;

/** 10,000 events() subscriptions to 10,000 waiting jobs in one process. */
export async function openSubscriptions(ctx: BenchContext): Promise<SubscriptionsResult> {
  const queue = await createQueueApp({ redis: redisOptions(ctx, NAME), prefix: 'subs' });
  const subscriptions: Subscription[] = [];
  try {
    // Nobody handles 'idle': the jobs stay waiting.
    const ids = await addBacklog(queue.jobs, 'idle', SUBSCRIPTIONS);
    const redisBefore = await ctx.probe?.usedMemory();
    const memBefore = process.memoryUsage();

    // Every subscription gets the job's 'queued' event from history; the cancelled ones get 'cancelled' live.
    const terminal = new Map<string, (event: JobEvent) => void>();
    let withHistory = 0;
    let allHistory!: () => void;
    let failed!: (err: unknown) => void;
    const historyDone = new Promise<void>((resolve, reject) => {
      allHistory = resolve;
      failed = reject;
    });
    const t0 = performance.now();
    for (const id of ids) {
      let first = true;
      subscriptions.push(
        queue.jobs.events(id).subscribe({
          next: (event) => {
            if (first && ++withHistory === ids.length) allHistory();
            first = false;
            if (event.type === 'cancelled') terminal.get(id)?.(event);
          },
          error: failed,
        }),
      );
    }
    await withTimeout(historyDone, 60_000, `history of ${ids.length} subscriptions`);
    const openMs = Math.round(performance.now() - t0);
    await sleep(500); // every subscription has joined the live read by now

    const clients = await ctx.probe?.clients();
    const memAfter = process.memoryUsage();
    const redisAfter = await ctx.probe?.usedMemory();

    // Live delivery with 10,000 open subscriptions: cancel waiting jobs one by one.
    const latencies: number[] = [];
    const live = await measureCost(ctx.probe, LIVE_SAMPLES, async () => {
      for (let i = 0; i < LIVE_SAMPLES; i++) {
        const id = ids[i];
        const received = new Promise<number>((resolve) => terminal.set(id, () => resolve(now())));
        const start = now();
        const result = await queue.jobs.cancel(id);
        if (result !== 'cancelled') throw new Error(`cancel of waiting job ${id} returned '${result}'`);
        latencies.push((await withTimeout(received, 10_000, `'cancelled' event of job ${id}`)) - start);
      }
    });

    const byName = clients?.byName ?? {};
    return {
      subscriptions: ids.length,
      openMs,
      redisConnections: {
        total: clients?.total ?? NaN,
        thisProcess: Object.entries(byName)
          .filter(([name]) => name.startsWith(NAME))
          .reduce((sum, [, n]) => sum + n, 0),
        byName,
      },
      memory: {
        rssMB: round((memAfter.rss - memBefore.rss) / MB),
        heapUsedMB: round((memAfter.heapUsed - memBefore.heapUsed) / MB),
        ...(redisBefore !== undefined &&
          redisAfter !== undefined && { redisUsedMB: round((redisAfter - redisBefore) / MB) }),
      },
      liveEventLatency: summarize(latencies),
      liveEventCost: {
        redisCpuUs: live.cpuUsPerJob,
        processCpuUs: live.processCpuUsPerJob,
        redisCommands: live.commandsPerJob,
      },
    };
  } finally {
    for (const s of subscriptions) s.unsubscribe();
    await queue.close();
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
