import { Logger } from '@nestjs/common';
import type { QueueBackend } from '../lib/backends/queue-backend.interface';
import type { Job, JobEvent } from '../lib';
import { JobEventHooks } from '../lib/queue-events/job-event-hooks';
import { Deferred } from './support/deferred';

const job: Job = {
  id: 'j1',
  name: 'email',
  data: null,
  state: 'failed',
  attempt: 1,
  attempts: 1,
  priority: 0,
  createdAt: 1,
};
const failed: JobEvent = { id: '5-0', jobId: 'j1', type: 'failed', at: 5, data: { error: 'x' } };

/** A backend that only answers what the hooks read, and counts the reads. */
function fakeBackend() {
  const reads = { get: 0, recent: 0 };
  const backend = {
    get: async () => (reads.get++, job),
    recentEvents: async () => (reads.recent++, [failed, { ...failed, id: '4-0', type: 'active' }]),
  } as unknown as QueueBackend;
  return { backend, reads };
}

describe('JobEventHooks', () => {
  beforeAll(() => jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined));
  afterAll(() => jest.restoreAllMocks());

  it('reads nothing for a type without hooks, nor for a name no hook wants', async () => {
    const { backend, reads } = fakeBackend();
    const hooks = new JobEventHooks(backend);
    hooks.register({ type: 'failed', names: new Set(['sms']), source: 'T.m', call: async () => undefined });
    hooks.notify('j1', 'completed', 'email');
    hooks.notify('j1', 'failed', 'email');
    await hooks.settled(1_000);
    expect(reads).toEqual({ get: 0, recent: 0 });
    expect(hooks.has('failed')).toBe(true);
    expect(hooks.has('completed')).toBe(false);
  });

  it('gives every hook the newest event of its type and the job; a throwing hook does not stop the others', async () => {
    const { backend } = fakeBackend();
    const hooks = new JobEventHooks(backend);
    const seen: Array<[string, JobEvent, Job]> = [];
    hooks.register({
      type: 'failed',
      source: 'T.bad',
      call: async () => {
        throw new Error('bug');
      },
    });
    hooks.register({ type: 'failed', source: 'T.good', call: async (event, j) => void seen.push(['good', event, j]) });
    hooks.notify('j1', 'failed');
    await hooks.settled(1_000);
    expect(seen).toEqual([['good', failed, job]]);
    expect(Logger.prototype.error).toHaveBeenCalledWith(expect.stringContaining("T.bad threw for job 'j1': bug"));
  });

  it('stops waiting for hooks that never settle after the shutdown bound', async () => {
    const { backend } = fakeBackend();
    const hooks = new JobEventHooks(backend);
    const called = new Deferred();
    hooks.register({ type: 'failed', source: 'T.hang', call: () => (called.resolve(), new Promise(() => undefined)) });
    hooks.notify('j1', 'failed');
    await called.promise;
    const bounded = hooks.settled(50);
    await expect(bounded).resolves.toBeUndefined();
  });
});
