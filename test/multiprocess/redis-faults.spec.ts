import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { Job, JobQueueMetrics } from '../../lib';
import { QueueProcess, QueueProcessSettings } from '../support/queue-process';
import type { ChildReport } from '../support/queue-process.protocol';
import { useProcessCluster } from '../support/process-cluster';

jest.setTimeout(120_000);

type Aborted = Extract<ChildReport, { type: 'aborted' }>;
type HealthReply = { queue: { status: 'up' | 'down'; message?: string } };

describe('cancel dispatcher, watchdog and health under faults (real processes, real Redis)', () => {
  const cluster = useProcessCluster({ drainTimeoutMs: 500 }, { faults: true });
  const startProcesses = (n: number, settings: QueueProcessSettings, prefix: string) =>
    cluster.start(n, settings, prefix);

  /** B runs handlers; C only adds, streams and cancels. */
  async function workerAndClient(module: Record<string, unknown> = {}) {
    const prefix = `f-${randomUUID().slice(0, 8)}`;
    const [b] = await startProcesses(1, { module: { cancelGraceMs: 300, ...module } }, prefix);
    const [c] = await startProcesses(1, { worker: false, module: { cancelGraceMs: 300, ...module } }, prefix);
    return { b, c };
  }

  const startedOn = (proc: QueueProcess, jobId: string) =>
    proc.waitFor((r) => r.type === 'started' && r.jobId === jobId);
  const abortedOn = (proc: QueueProcess, jobId: string) =>
    proc.waitFor((r): r is Aborted => r.type === 'aborted' && r.jobId === jobId);

  it('cancel from C aborts the handler running on B, and every subscriber sees cancelled', async () => {
    const { b, c } = await workerAndClient();
    const [job] = await c.send<Job[]>({ cmd: 'add', jobs: [{ name: 'stream', data: { steps: 1000, stepMs: 20 } }] });
    await startedOn(b, job.id);
    await c.send({ cmd: 'subscribe', jobId: job.id, stream: 'c' });
    await b.send({ cmd: 'subscribe', jobId: job.id, stream: 'b' });
    const reply = await c.send<{ result: string }>({ cmd: 'cancel', jobId: job.id, reason: 'user pressed stop' });
    expect(reply.result).toBe('cancelling');
    const aborted = await abortedOn(b, job.id);
    expect(aborted.reason).toMatch(/user pressed stop/);
    for (const [proc, stream] of [
      [c, 'c'],
      [b, 'b'],
    ] as const) {
      const last = await proc.waitFor((r) => r.type === 'event' && r.stream === stream && r.event.type === 'cancelled');
      expect(last).toMatchObject({ event: { data: { reason: 'user pressed stop' } } });
      await proc.waitFor((r) => r.type === 'stream-complete' && r.stream === stream);
    }
    expect(await c.send<Job>({ cmd: 'get', jobId: job.id })).toMatchObject({
      state: 'cancelled',
      cancelReason: 'user pressed stop',
    });
    const metrics = await b.send<JobQueueMetrics>({ cmd: 'metrics' });
    expect(metrics.dispatcher.deliveredRemote).toBe(1);
  });

  it('cancels waiting and delayed jobs from another process at once', async () => {
    const { c } = await workerAndClient();
    const jobs = await c.send<Job[]>({
      cmd: 'add',
      jobs: [
        { name: 'nobody-runs-this', data: {} },
        { name: 'stream', data: { steps: 1, stepMs: 1 }, opts: { delayMs: 60_000 } },
      ],
    });
    for (const job of jobs) {
      expect((await c.send<{ result: string }>({ cmd: 'cancel', jobId: job.id })).result).toBe('cancelled');
      expect((await c.send<Job>({ cmd: 'get', jobId: job.id })).state).toBe('cancelled');
    }
  });

  it('finishes a handler that ignores the signal as cancelled after cancelGraceMs', async () => {
    const { b, c } = await workerAndClient();
    const [job] = await c.send<Job[]>({ cmd: 'add', jobs: [{ name: 'stubborn', data: {}, opts: { attempts: 3 } }] });
    await startedOn(b, job.id);
    await c.send({ cmd: 'cancel', jobId: job.id });
    await abortedOn(b, job.id);
    const done = await c.send<Job>({ cmd: 'waitFor', jobId: job.id });
    expect(done).toMatchObject({ state: 'cancelled', attempt: 1 });
  });

  it('runs the job of a SIGKILLed worker again on another process, with default attempts (a crash uses no attempt)', async () => {
    const prefix = `f-${randomUUID().slice(0, 8)}`;
    const module = { leaseMs: 600, watchdog: { intervalMs: 150, clientTimeoutMs: 0 } };
    const [victim] = await startProcesses(1, { module }, prefix);
    const [job] = await victim.send<Job[]>({ cmd: 'add', jobs: [{ name: 'work', data: { ms: 60_000 } }] });
    await startedOn(victim, job.id);
    await victim.kill();
    const [rescuer] = await startProcesses(1, { module }, prefix);
    const restarted = (await rescuer.waitFor((r) => r.type === 'started' && r.jobId === job.id)) as Extract<
      ChildReport,
      { type: 'started' }
    >;
    expect(restarted.attempt).toBe(1);
    // ms: 60s would take too long; the job is cancelled once we saw it was reclaimed and restarted.
    expect((await rescuer.send<Job>({ cmd: 'get', jobId: job.id })).state).toBe('active');
    const stream = collect(rescuer, job.id);
    expect((await stream).map((e) => e.type).slice(0, 4)).toEqual(['queued', 'active', 'stalled', 'active']);
  });

  it('survives a Redis restart: health goes down then up, the dispatcher resubscribes, and cancel works again', async () => {
    const { b, c } = await workerAndClient();
    expect((await b.send<HealthReply>({ cmd: 'health' })).queue.status).toBe('up');
    await cluster.redis.stop();
    const down = await b.send<HealthReply>({ cmd: 'health' });
    expect(down.queue.status).toBe('down');
    await cluster.redis.start();
    await pollUntil(async () => (await b.send<HealthReply>({ cmd: 'health' })).queue.status === 'up');
    await pollUntil(async () => (await b.send<JobQueueMetrics>({ cmd: 'metrics' })).dispatcher.subscribed);
    expect((await b.send<JobQueueMetrics>({ cmd: 'metrics' })).dispatcher.reconnects).toBeGreaterThanOrEqual(1);
    const [job] = await c.send<Job[]>({ cmd: 'add', jobs: [{ name: 'stream', data: { steps: 1000, stepMs: 20 } }] });
    await startedOn(b, job.id);
    await c.send({ cmd: 'cancel', jobId: job.id });
    await abortedOn(b, job.id);
    expect((await c.send<Job>({ cmd: 'waitFor', jobId: job.id })).state).toBe('cancelled');
  });

  it('honours a cancel published while the worker’s subscription was down (recovered from the job record)', async () => {
    const { b, c } = await workerAndClient({ leaseMs: 120_000 });
    const [job] = await c.send<Job[]>({ cmd: 'add', jobs: [{ name: 'stream', data: { steps: 1000, stepMs: 20 } }] });
    await startedOn(b, job.id);
    const admin = new Redis(cluster.redis.url);
    try {
      // Keep B's subscriber from reconnecting: no free client slot while we cancel.
      const clients = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
      const subscribers = String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
        .trim()
        .split('\n').length;
      await admin.config('SET', 'maxclients', String(clients - subscribers));
      await admin.client('KILL', 'TYPE', 'pubsub');
      await pollUntil(async () => !(await b.send<JobQueueMetrics>({ cmd: 'metrics' })).dispatcher.subscribed);
      expect((await c.send<{ result: string }>({ cmd: 'cancel', jobId: job.id })).result).toBe('cancelling');
      await admin.config('SET', 'maxclients', '10000');
      await abortedOn(b, job.id);
      const metrics = await b.send<JobQueueMetrics>({ cmd: 'metrics' });
      expect(metrics.dispatcher.recovered).toBe(1);
    } finally {
      await admin.config('SET', 'maxclients', '10000').catch(() => undefined);
      admin.disconnect();
    }
  });

  it('cancels a watched job whose client stopped polling as client-gone, and leaves an unwatched long job running', async () => {
    const { b, c } = await workerAndClient({ watchdog: { intervalMs: 100, clientTimeoutMs: 400 } });
    const [watched, unwatched] = await c.send<Job[]>({
      cmd: 'add',
      jobs: [
        { name: 'stream', data: { steps: 1000, stepMs: 20 }, opts: { watchClient: true } },
        { name: 'stream', data: { steps: 1000, stepMs: 20 } },
      ],
    });
    const aborted = await abortedOn(b, watched.id);
    expect(aborted.reason).toMatch(/client-gone/);
    expect(await c.send<Job>({ cmd: 'waitFor', jobId: watched.id })).toMatchObject({
      state: 'cancelled',
      cancelReason: 'client-gone',
    });
    expect((await c.send<Job>({ cmd: 'get', jobId: unwatched.id })).state).toBe('active');
  });
});

/** The events a process has streamed for a job up to now (subscribe, take what came, unsubscribe). */
async function collect(proc: QueueProcess, jobId: string) {
  const stream = `collect-${randomUUID()}`;
  await proc.send({ cmd: 'subscribe', jobId, stream });
  // Until the second run's `active` event (a stall reruns the same attempt number).
  let actives = 0;
  await proc.waitFor((r) => r.type === 'event' && r.stream === stream && r.event.type === 'active' && ++actives === 2);
  await proc.send({ cmd: 'unsubscribe', stream });
  return proc.reports.flatMap((r) => (r.type === 'event' && r.stream === stream ? [r.event] : []));
}

/** Polls a cross-process condition (health, metrics) that has no event to await. */
async function pollUntil(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
