import { cpus } from 'node:os';

/**
 * Share of all CPUs busy over `ms` (0..1), sampled before the bench starts: other processes on a
 * 2-core machine inflate every latency percentile, so the report warns when it was not idle.
 */
export async function cpuBusy(ms = 1_000): Promise<number> {
  const before = totals();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = totals();
  const total = after.total - before.total;
  return total > 0 ? Math.round(((after.busy - before.busy) / total) * 100) / 100 : 0;
}

function totals(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}
