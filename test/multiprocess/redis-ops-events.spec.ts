import type { Job, JobEvent, JobSchedule } from '../../lib';
import { SCHEDULE_POLL_MS } from '../../lib/schedules/job-scheduler.service';
import { elapse, eventually } from '../support/deferred';
import { useProcessCluster } from '../support/process-cluster';
import { QueueProcess, reportsSoFar } from '../support/queue-process';
import type { ChildReport } from '../support/queue-process.protocol';

jest.setTimeout(120_000);

describe('schedules and @OnJobEvent hooks across real processes', () => {
  const cluster = useProcessCluster({ drainTimeoutMs: 2_000 });
  const scheduleOf = async (proc: QueueProcess, id: string) =>
    (await proc.send<JobSchedule[]>({ cmd: 'schedules' })).find((s) => s.id === id);

  it('adds exactly one job per tick while 3 processes fire the same schedule, and runs each hook once per event', async () => {
    const procs = await cluster.start(3, { hooks: true, concurrency: 4 });
    const [a] = procs;
    const limit = 24;
    const everyMs = 400;
    // Ticks outlast the poll interval, so every process has the schedule armed for most of them.
    expect(limit * everyMs).toBeGreaterThan(SCHEDULE_POLL_MS + 2_000);
    const created = await a.send<JobSchedule>({
      cmd: 'schedule',
      scheduleId: 'pulse',
      name: 'work',
      data: {},
      opts: { everyMs, limit },
    });
    const done = await eventually(
      async () => {
        const schedule = await scheduleOf(a, 'pulse');
        return schedule?.count === limit ? schedule : undefined;
      },
      60_000,
      100,
    );
    expect(done!.nextAt).toBeUndefined();

    const tickIds = Array.from({ length: limit }, (_, k) => `sched:pulse:${created.nextAt! + k * everyMs}`);
    const finished = await Promise.all(tickIds.map((id) => a.send<Job>({ cmd: 'waitFor', jobId: id })));
    expect(finished.every((job) => job.state === 'completed')).toBe(true);

    // Exactly one run per tick, nothing else.
    const starts = await reportsSoFar(procs, 'started');
    expect(starts.map((s) => s.jobId).sort()).toEqual([...tickIds].sort());

    // Hooks: once per event across the processes; `queued` where the tick was fired, the others where the job ran.
    await eventually(
      () =>
        procs.flatMap((p) => p.reports).filter((r) => r.type === 'hook' && r.event.type === 'completed').length >=
        limit,
      10_000,
    );
    const hooks = await reportsSoFar(procs, 'hook');
    for (const type of ['queued', 'active', 'completed']) {
      const ofType = hooks.filter((h) => h.event.type === type);
      expect(ofType.map((h) => h.event.jobId).sort()).toEqual([...tickIds].sort());
    }
    expect(hooks).toHaveLength(3 * limit);
    for (const hook of hooks.filter((h) => h.event.type !== 'queued')) {
      const ranIn = starts.find((s) => s.jobId === hook.event.jobId)!.pid;
      expect(hook.pid).toBe(ranIn);
    }
    expect(hooks.filter((h) => h.event.type === 'completed').every((h) => h.state === 'completed')).toBe(true);
    // Which processes fired the ticks (informative: the compare-and-set decides, not the test).
    const firedBy = new Set(hooks.filter((h) => h.event.type === 'queued').map((h) => h.pid));
    expect(firedBy.size).toBeGreaterThanOrEqual(1);
  });

  it('runs the ticks missed while every process was down once, together, when a process comes back', async () => {
    const [a] = await cluster.start(1, { worker: false });
    const created = await a.send<JobSchedule>({
      cmd: 'schedule',
      scheduleId: 'catch-up',
      name: 'work',
      data: {},
      opts: { everyMs: 200 },
    });
    const first = await eventually(async () => {
      const schedule = await scheduleOf(a, 'catch-up');
      return schedule && schedule.count >= 1 ? schedule : undefined;
    });
    await a.close();
    // The subject is time passing with nobody there: several ticks go by.
    await elapse(1_500);
    const [b] = await cluster.start(1, { worker: false }, a.prefix);
    const after = await eventually(async () => {
      const schedule = await scheduleOf(b, 'catch-up');
      // At least: on a slow machine the next on-grid tick may fire before this poll sees the catch-up.
      return schedule && schedule.count >= first!.count + 1 ? schedule : undefined;
    });
    const missedTick = first!.nextAt!;
    expect(await b.send<Job>({ cmd: 'get', jobId: `sched:catch-up:${missedTick}` })).toMatchObject({
      state: 'waiting',
      name: 'work',
    });
    // Only one job for all the missed ticks: the next tick is on the grid, after the return.
    expect(after!.nextAt! - missedTick).toBeGreaterThanOrEqual(1_200);
    expect((after!.nextAt! - created.nextAt!) % 200).toBe(0);
    expect(await b.send({ cmd: 'get', jobId: `sched:catch-up:${missedTick + 200}` })).toBeNull();
  });

  it('delivers queue-wide events of jobs that run in another process, with their names', async () => {
    const [b] = await cluster.start(1);
    const [c] = await cluster.start(1, { worker: false }, b.prefix);
    type Event = Extract<ChildReport, { type: 'event' }>;
    const events = (stream: string) =>
      c.reports
        .filter((r): r is Event => r.type === 'event' && r.stream === stream)
        .map((r) => r.event as JobEvent & { name: string });
    await c.send({ cmd: 'queueEvents', stream: 'all' });
    await c.send({ cmd: 'queueEvents', stream: 'done', types: ['completed'], names: ['work'] });
    // Live once a probe's event arrives (pub/sub has no history).
    await eventually(async () => {
      const [probe] = await c.send<Job[]>({ cmd: 'add', jobs: [{ name: 'nobody', data: null }] });
      return eventually(() => events('all').some((e) => e.jobId === probe.id), 300).catch(() => false);
    });
    const added = await c.send<Job[]>({ cmd: 'add', jobs: [1, 2, 3].map((i) => ({ name: 'work', data: { i } })) });
    await eventually(() => events('done').length === 3);
    for (const job of added) {
      const ofJob = events('all').filter((e) => e.jobId === job.id);
      expect(ofJob.map((e) => [e.type, e.name])).toEqual([
        ['queued', 'work'],
        ['active', 'work'],
        ['completed', 'work'],
      ]);
    }
    expect(
      events('done')
        .map((e) => e.jobId)
        .sort(),
    ).toEqual(added.map((j) => j.id).sort());
    expect((await reportsSoFar([b], 'started')).map((s) => s.jobId).sort()).toEqual(added.map((j) => j.id).sort());
  });
});
