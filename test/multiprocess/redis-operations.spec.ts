import type { Job } from '../../lib';
import { elapse } from '../support/deferred';
import { QueueProcess, reportsSoFar } from '../support/queue-process';
import type { ChildReport } from '../support/queue-process.protocol';
import { useProcessCluster } from '../support/process-cluster';

jest.setTimeout(120_000);

type Started = Extract<ChildReport, { type: 'started' }>;
type Ended = Extract<ChildReport, { type: 'ended' }>;

describe('pause, rate limits and global concurrency across real processes', () => {
  const cluster = useProcessCluster({ cancelGraceMs: 300, drainTimeoutMs: 2_000 });

  const add = (proc: QueueProcess, name: string, count: number, data: unknown = {}) =>
    proc.send<Job[]>({ cmd: 'add', jobs: Array.from({ length: count }, () => ({ name, data })) });
  const finished = (proc: QueueProcess, jobs: Job[]) =>
    Promise.all(jobs.map((job) => proc.send<Job>({ cmd: 'waitFor', jobId: job.id })));

  it('rateLimit and globalConcurrency hold over three processes: starts per window never exceed max, running never exceeds the limit', async () => {
    const rateLimit = { max: 3, perMs: 250 };
    // Each process alone could start 4 jobs every 30-40 ms: only the shared limits keep the totals down.
    const procs = await cluster.start(3, {
      concurrency: 4,
      throttled: { rateLimit },
      capped: { globalConcurrency: 3 },
    });
    const [throttled, capped] = await Promise.all([
      add(procs[0], 'throttled', 18, { ms: 30 }),
      add(procs[1], 'capped', 30, { ms: 40 }),
    ]);
    const [throttledDone, cappedDone] = await Promise.all([finished(procs[0], throttled), finished(procs[1], capped)]);
    expect([...throttledDone, ...cappedDone].every((job) => job.state === 'completed')).toBe(true);

    const starts = throttledDone.map((job) => job.startedAt!).sort((a, b) => a - b);
    for (let i = rateLimit.max; i < starts.length; i++) {
      expect(starts[i] - starts[i - rateLimit.max]).toBeGreaterThanOrEqual(rateLimit.perMs);
    }

    const cappedIds = new Set(capped.map((job) => job.id));
    const cappedStarts = (await reportsSoFar(procs, 'started')).filter((r) => cappedIds.has(r.jobId));
    const cappedEnds = (await reportsSoFar(procs, 'ended')).filter((r) => cappedIds.has(r.jobId));
    expect(cappedStarts).toHaveLength(30);
    expect(maxOverlap(cappedStarts, cappedEnds)).toBeLessThanOrEqual(3);
  });

  it('pause in one process stops claims in all, holds across a restart, and resume in another restarts them', async () => {
    const [a, b, c] = await cluster.start(3, { concurrency: 2 });
    await a.send({ cmd: 'pause', name: 'work' });
    expect(await b.send<boolean>({ cmd: 'isPaused', name: 'work' })).toBe(true);
    expect(await b.send<boolean>({ cmd: 'isPaused' })).toBe(false);
    const jobs = await add(c, 'work', 6);
    await elapse(300); // the subject is that nothing starts while paused
    expect(await reportsSoFar([a, b, c], 'started')).toHaveLength(0);
    const health = await b.send<Record<string, { paused: unknown }>>({ cmd: 'health' });
    expect(health.queue.paused).toEqual({ queue: false, names: ['work'] });
    expect((await c.send<{ paused: unknown }>({ cmd: 'metrics' })).paused).toEqual({ queue: false, names: ['work'] });

    // The pause is stored in Redis: a process started after a restart sees it too.
    await a.close();
    const [d] = await cluster.start(1, { concurrency: 2 }, c.prefix);
    expect(await d.send<boolean>({ cmd: 'isPaused', name: 'work' })).toBe(true);

    await b.send({ cmd: 'resume', name: 'work' });
    const done = await finished(c, jobs);
    expect(done.every((job) => job.state === 'completed')).toBe(true);
    expect((await reportsSoFar([b, c, d], 'started')).map((s) => s.jobId).sort()).toEqual(
      jobs.map((job) => job.id).sort(),
    );

    // The queue level holds every name the same way.
    await d.send({ cmd: 'pause' });
    expect(await c.send<boolean>({ cmd: 'isPaused', name: 'work' })).toBe(true);
    const later = await add(b, 'work', 3);
    await elapse(300); // the subject is that nothing starts while paused
    expect(await reportsSoFar([b, c, d], 'started')).toHaveLength(6);
    await c.send({ cmd: 'resume' });
    expect((await finished(b, later)).every((job) => job.state === 'completed')).toBe(true);
  });
});

/** The most handlers running at one instant, from start/end reports (an end at the same ms as a start comes first). */
function maxOverlap(starts: Started[], ends: Ended[]): number {
  const edges = [...starts.map((s) => ({ at: s.at, delta: 1 })), ...ends.map((e) => ({ at: e.at, delta: -1 }))];
  edges.sort((x, y) => x.at - y.at || x.delta - y.delta);
  let running = 0;
  let max = 0;
  for (const edge of edges) max = Math.max(max, (running += edge.delta));
  return max;
}
