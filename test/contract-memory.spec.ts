import { JobAbortedError } from '../lib';
import { describeJobQueueContract } from './contract/job-queue.contract';
import { createQueueApp } from './contract/queue-app';

describeJobQueueContract('memory', () => ({}));

describe('in-memory shutdown', () => {
  it('aborts jobs still running after drainTimeoutMs and hands them back to waiting (they die with the process)', async () => {
    const app = await createQueueApp(() => ({}), { drainTimeoutMs: 50 });
    const job = await app.jobs.add('stubborn', null, { attempts: 1 });
    await app.probe.started.get(job.id).promise;
    await app.close();
    const reason = (await app.probe.aborted.get(job.id).promise) as JobAbortedError;
    expect(reason).toMatchObject({ kind: 'shutdown' });
    // The store is plain memory: still readable through the closed app's service, gone with the process.
    expect(await app.jobs.get(job.id)).toMatchObject({ state: 'waiting', attempt: 0 });
    app.probe.release.get(job.id).resolve('too late');
  });
});

describe('in-memory leases', () => {
  it('never reclaims a job whose handler blocks the event loop past leaseMs: it runs once and completes', async () => {
    const app = await createQueueApp(() => ({}), { leaseMs: 100, watchdog: { intervalMs: 10, clientTimeoutMs: 0 } });
    try {
      const job = await app.jobs.add('blocking', { ms: 400 });
      expect(await app.jobs.waitFor(job.id)).toMatchObject({ state: 'completed', attempt: 1, result: 'done' });
      expect(app.probe.runs.get(job.id)).toBe(1);
      const types = (await app.jobs.poll(job.id, { max: 100 })).events.map((e) => e.type);
      expect(types).toEqual(['queued', 'active', 'completed']);
      expect(app.watchdog.stats()).toMatchObject({ stalledRequeued: 0, stalledFailed: 0 });
    } finally {
      await app.close();
    }
  });
});
