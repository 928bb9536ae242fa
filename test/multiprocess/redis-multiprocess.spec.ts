import type { Job, JobEvent } from '../../lib';
import { QueueProcess, QueueProcessSettings, reportsSoFar } from '../support/queue-process';
import type { ChildReport } from '../support/queue-process.protocol';
import { useProcessCluster } from '../support/process-cluster';

jest.setTimeout(120_000);

type Started = Extract<ChildReport, { type: 'started' }>;

describe('Redis backend across real processes', () => {
  const cluster = useProcessCluster({ cancelGraceMs: 300, drainTimeoutMs: 2_000 });
  const startProcesses = (n: number, settings: QueueProcessSettings = {}, prefix?: string) =>
    cluster.start(n, settings, prefix);

  function collectStream(proc: QueueProcess, stream: string): { events: JobEvent[]; done: Promise<void> } {
    const events: JobEvent[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const listener = (report: ChildReport) => {
        if (report.type === 'event' && report.stream === stream) events.push(report.event);
        if (report.type === 'stream-complete' && report.stream === stream) {
          proc.off('report', listener);
          resolve();
        }
        if (report.type === 'stream-error' && report.stream === stream) reject(new Error(report.message));
      };
      proc.on('report', listener);
    });
    return { events, done };
  }

  it('runs 1,000 jobs added through one process exactly once, spread over the workers, never twice at a time', async () => {
    const [a, b, c] = await startProcesses(3, { concurrency: 8 });
    const added = await a.send<Job[]>({
      cmd: 'add',
      jobs: Array.from({ length: 1000 }, (_, i) => ({ name: 'work', data: { ms: i % 10 === 0 ? 5 : 0 } })),
    });
    expect(new Set(added.map((j) => j.id)).size).toBe(1000);
    // Wait for every job to be finished, through any process.
    const finished = await Promise.all(added.map((job) => waitFinished(a, job.id)));
    expect(finished.filter((job) => job.state !== 'completed')).toEqual([]);
    const metrics = await Promise.all(
      [a, b, c].map((p) => p.send<{ worker: { outcomes: { completed: number } } }>({ cmd: 'metrics' })),
    );
    expect(metrics.reduce((sum, m) => sum + m.worker.outcomes.completed, 0)).toBe(1000);
    // a's replies can overtake b's and c's reports: collect them after a round trip to each.
    const starts = await reportsSoFar([a, b, c], 'started');
    const ends = await reportsSoFar([a, b, c], 'ended');
    expect(starts).toHaveLength(1000);
    expect(ends).toHaveLength(1000);
    expect(new Set(starts.map((s) => s.jobId)).size).toBe(1000);
    const workers = new Set(starts.map((s) => s.pid));
    expect(workers.size).toBeGreaterThanOrEqual(2);
  });

  it('streams a job running in B from C with its full ordered history, and resumes after a disconnect without gaps or duplicates', async () => {
    const [b] = await startProcesses(1);
    const [c] = await startProcesses(1, { worker: false }, b.prefix);
    const [job] = await c.send<Job[]>({ cmd: 'add', jobs: [{ name: 'stream', data: { steps: 20, stepMs: 10 } }] });
    await b.waitFor((r) => r.type === 'started' && r.jobId === job.id);

    const first = collectStream(c, 's1');
    await c.send({ cmd: 'subscribe', jobId: job.id, stream: 's1' });
    await c.waitFor(
      (r) =>
        r.type === 'event' && r.stream === 's1' && r.event.type === 'token' && (r.event.data as { i: number }).i >= 5,
    );
    await c.send({ cmd: 'unsubscribe', stream: 's1' });
    const seenBefore = [...first.events];
    const lastSeen = seenBefore[seenBefore.length - 1];

    const resumed = collectStream(c, 's2');
    await c.send({ cmd: 'subscribe', jobId: job.id, stream: 's2', after: lastSeen.id });
    await resumed.done;

    const full = collectStream(c, 's3');
    await c.send({ cmd: 'subscribe', jobId: job.id, stream: 's3' });
    await full.done;

    expect([...seenBefore, ...resumed.events]).toEqual(full.events);
    expect(full.events.map((e) => e.type)).toEqual(['queued', 'active', ...Array(20).fill('token'), 'completed']);
    expect(full.events.filter((e) => e.type === 'token').map((e) => (e.data as { i: number }).i)).toEqual([
      ...Array(20).keys(),
    ]);
    expect((full.events[2].data as { pid: number }).pid).toBe(b.pid);
  });

  it('keeps jobId idempotent across processes, and priorities and delays hold across processes', async () => {
    const [a, b] = await startProcesses(2, { worker: false });
    const [one] = await a.send<Job[]>({
      cmd: 'add',
      jobs: [{ name: 'work', data: { from: 'a' }, opts: { jobId: 'same-id' } }],
    });
    const [two] = await b.send<Job[]>({
      cmd: 'add',
      jobs: [{ name: 'work', data: { from: 'b' }, opts: { jobId: 'same-id' } }],
    });
    expect(two).toEqual(one);

    await b.send({
      cmd: 'add',
      jobs: [
        { name: 'work', data: { tag: 'low' }, opts: { jobId: 'low', priority: -5 } },
        { name: 'work', data: { tag: 'high' }, opts: { jobId: 'high', priority: 5 } },
      ],
    });
    // The worker starts after the backlog exists, so it sees all three at once.
    const [worker] = await startProcesses(1, { concurrency: 1 }, a.prefix);
    await waitFinished(a, 'low');
    const order = (await reportsSoFar([worker], 'started')).map((r) => r.jobId);
    expect(order).toEqual(['high', 'same-id', 'low']);

    const [delayed] = await b.send<Job[]>({ cmd: 'add', jobs: [{ name: 'work', data: {}, opts: { delayMs: 500 } }] });
    expect(delayed.state).toBe('delayed');
    const done = await waitFinished(a, delayed.id);
    expect(done.state).toBe('completed');
    expect(done.startedAt! - done.createdAt).toBeGreaterThanOrEqual(500);
  });

  it('hands a job still running after drainTimeoutMs back on shutdown, and another process claims it at once', async () => {
    const [leaving] = await startProcesses(1, { module: { drainTimeoutMs: 300 } });
    const [job] = await leaving.send<Job[]>({
      cmd: 'add',
      jobs: [{ name: 'work', data: { ms: 60_000 }, opts: { attempts: 1 } }],
    });
    await leaving.waitFor((r) => r.type === 'started' && r.jobId === job.id);
    const [staying] = await startProcesses(1, {}, leaving.prefix);
    await leaving.close();
    const restarted = (await staying.waitFor((r) => r.type === 'started' && r.jobId === job.id)) as Started;
    // Not failed, not cancelled, and the hand-back did not use up the only attempt.
    expect(restarted.attempt).toBe(1);
    const history = collectStream(staying, 'h');
    await staying.send({ cmd: 'subscribe', jobId: job.id, stream: 'h' });
    await staying.waitFor(
      (r) => r.type === 'event' && r.stream === 'h' && r.event.type === 'active' && history.events.length >= 4,
    );
    expect(history.events.map((e) => e.type).slice(0, 4)).toEqual(['queued', 'active', 'queued', 'active']);
    expect(history.events[2].data).toEqual({ released: true });
  });

  function waitFinished(proc: QueueProcess, jobId: string): Promise<Job> {
    return proc.send<Job>({ cmd: 'waitFor', jobId });
  }
});
