import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { JobHandler, JobQueueModule, JobQueueService } from '../lib';
import { MemoryBackend } from '../lib/backends/memory/memory.backend';
import type { ClaimBatch, ClaimRequest } from '../lib/backends/queue-backend.interface';
import { JOB_QUEUE_BACKEND } from '../lib/job-queue.constants';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { type CancelLanding, HeldCancels } from '../lib/worker/held-cancels';
import { Deferred } from './support/deferred';

/** A memory backend whose claims answer only when the test releases them, in the order they were sent. */
class HeldClaimsBackend extends MemoryBackend {
  readonly asked: ClaimRequest[][] = [];
  readonly gates: Array<Deferred<void>> = [];
  readonly twoInFlight = new Deferred<void>();
  private open = false;

  override async claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    this.asked.push(requests.map((r) => ({ ...r })));
    if (!this.open) {
      const gate = new Deferred<void>();
      this.gates.push(gate);
      if (this.gates.length === 2) this.twoInFlight.resolve();
      await gate.promise;
    }
    return super.claim(requests, leaseMs);
  }

  /** Answers the claims held so far, and every later one at once. */
  openGates(): void {
    this.open = true;
    for (const gate of this.gates) gate.resolve();
  }
}

@Injectable()
class Handlers {
  readonly ran: string[] = [];

  @JobHandler('work', { concurrency: 4 })
  async work(job: { id: string }): Promise<void> {
    this.ran.push(job.id);
  }
}

describe('claims in flight', () => {
  it('sends the next claim while one is in flight, each for a share of the free slots, and runs every job once', async () => {
    const backend = new HeldClaimsBackend(resolveJobQueueOptions({}));
    const moduleRef = await Test.createTestingModule({
      imports: [JobQueueModule.forRoot({})],
      providers: [Handlers],
    })
      .overrideProvider(JOB_QUEUE_BACKEND)
      .useValue(backend)
      .compile();
    await moduleRef.init();
    const jobs = moduleRef.get(JobQueueService);
    const added = await jobs.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'work', data: i })));
    await backend.twoInFlight.promise;
    // Two claims on their way at once, neither answered, for 2 + 2 of the 4 slots.
    expect(backend.asked.map((requests) => requests.map((r) => [r.name, r.max]))).toEqual([
      [['work', 2]],
      [['work', 2]],
    ]);
    backend.openGates();
    const done = await Promise.all(added.map((job) => jobs.waitFor(job.id)));
    expect(done.map((job) => job.state)).toEqual(new Array(6).fill('completed'));
    expect([...moduleRef.get(Handlers).ran].sort()).toEqual(added.map((job) => job.id).sort());
    // Never more than a share of the slots per claim.
    for (const requests of backend.asked) expect(requests[0].max).toBeLessThanOrEqual(2);
    await moduleRef.close();
  });
});

describe('HeldCancels with several claims in flight', () => {
  it('reports a cancel once every claim in flight when it arrived has answered, not later ones', () => {
    const held = new HeldCancels();
    const landed: CancelLanding[] = [];
    const first = held.beginClaim();
    const second = held.beginClaim();
    expect(held.hold('a', 'stop', (l) => landed.push(l))).toBe(true);
    const third = held.beginClaim(); // sent after the cancel: it cannot bring job a
    expect(held.reasonFor('a')).toBe('stop');
    held.endClaim(second, () => false);
    expect(landed).toEqual([]);
    held.endClaim(first, () => false);
    expect(landed).toEqual(['elsewhere']);
    expect(held.reasonFor('a')).toBeUndefined();
    held.endClaim(third, () => false);
    expect(landed).toEqual(['elsewhere']);
  });

  it('reports applied to the first holder and already to the others when a claim brought the job', () => {
    const held = new HeldCancels();
    const landed: CancelLanding[] = [];
    const claim = held.beginClaim();
    held.hold('a', 'one', (l) => landed.push(l));
    held.hold('a', 'two', (l) => landed.push(l));
    expect(held.reasonFor('a')).toBe('one');
    held.endClaim(claim, (jobId) => jobId === 'a');
    expect(landed).toEqual(['applied', 'already']);
  });

  it('does not hold a cancel when no claim is in flight', () => {
    const held = new HeldCancels();
    held.endClaim(held.beginClaim(), () => false);
    expect(held.hold('a', 'late', () => undefined)).toBe(false);
  });
});
