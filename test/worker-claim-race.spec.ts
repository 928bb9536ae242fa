import { JobAbortedError, JobCancelDispatcher, JobQueueService } from '../lib';
import { MemoryBackend } from '../lib/backends/memory/memory.backend';
import type { ClaimBatch, ClaimRequest } from '../lib/backends/queue-backend.interface';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { compileWithBackend } from './support/backend-module';
import { ContractHandlers, HandlerProbe } from './contract/contract-handlers';
import { Deferred } from './support/deferred';

/** A memory backend whose claims return only when the test lets them (the claim reply "in flight"). */
class SlowClaimBackend extends MemoryBackend {
  readonly claimStarted = new Deferred<void>();
  readonly letClaimReturn = new Deferred<void>();

  override async claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    const batch = await super.claim(requests, leaseMs);
    if (batch.jobs.length > 0) {
      this.claimStarted.resolve();
      await this.letClaimReturn.promise;
    }
    return batch;
  }
}

describe('a cancel that arrives while the claim returning its job is in flight', () => {
  it('is held by the worker and aborts the handler as it starts', async () => {
    const backend = new SlowClaimBackend(resolveJobQueueOptions({ cancelGraceMs: 5_000 }));
    const probe = new HandlerProbe();
    const moduleRef = await compileWithBackend(
      backend,
      [{ provide: HandlerProbe, useValue: probe }, ContractHandlers],
      {
        cancelGraceMs: 5_000,
      },
    );
    await moduleRef.init();
    const jobs = moduleRef.get(JobQueueService);
    const job = await jobs.add('gated', null);
    await backend.claimStarted.promise;
    // The job is active in the store but not yet running here: this is the race.
    const dispatcher = moduleRef.get(JobCancelDispatcher);
    expect(await dispatcher.cancel(job.id, 'raced')).toBe('cancelling');
    // Not counted yet: the claim in flight decides where it was delivered.
    expect(dispatcher.stats()).toMatchObject({ deliveredLocal: 0, published: 0 });
    backend.letClaimReturn.resolve();
    const reason = (await probe.aborted.get(job.id).promise) as JobAbortedError;
    expect(reason).toMatchObject({ kind: 'cancel', reason: 'raced' });
    expect(await jobs.waitFor(job.id)).toMatchObject({ state: 'cancelled', cancelReason: 'raced' });
    expect(dispatcher.stats()).toMatchObject({ deliveredLocal: 1, published: 0 });
    await moduleRef.close();
  });
});
