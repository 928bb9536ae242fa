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
