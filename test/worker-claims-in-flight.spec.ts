import { Injectable } from '@nestjs/common';
import { JobHandler, JobQueueService } from '../lib';
import { MemoryBackend } from '../lib/backends/memory/memory.backend';
import type { ClaimBatch, ClaimRequest } from '../lib/backends/queue-backend.interface';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { compileWithBackend } from './support/backend-module';
import { type CancelLanding, HeldCancels } from '../lib/worker/held-cancels';
import { Deferred } from './support/deferred';

/**
 * A memory backend whose claims, once one came back with jobs (the worker saw a backlog), answer only
 * when the test opens the gates.
 */
class HeldClaimsBackend extends MemoryBackend {
  /** What each held claim asked for. */
  readonly held: ClaimRequest[][] = [];
  readonly twoInFlight = new Deferred<void>();
  private readonly gates: Array<Deferred<void>> = [];
  private sawJobs = false;
  private open = false;

  override async claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    if (this.sawJobs && !this.open) {
      this.held.push(requests.map((r) => ({ ...r })));
      const gate = new Deferred<void>();
      this.gates.push(gate);
      if (this.gates.length === 2) this.twoInFlight.resolve();
      await gate.promise;
    }
    const batch = await super.claim(requests, leaseMs);
    if (batch.jobs.length > 0) this.sawJobs = true;
    return batch;
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
  it('with a backlog, sends the next claim while one is in flight, each for a share of the free slots, and runs every job once', async () => {
    const backend = new HeldClaimsBackend(resolveJobQueueOptions({}));
    const moduleRef = await compileWithBackend(backend, [Handlers]);
    await moduleRef.init();
    const jobs = moduleRef.get(JobQueueService);
    const added = await jobs.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'work', data: i })));
    await backend.twoInFlight.promise;
    // A claim came back full (a backlog); then two claims on their way at once, neither answered,
    // each for 2 of the 4 slots.
    expect(backend.held.map((requests) => requests.map((r) => [r.name, r.max]))).toEqual([
      [['work', 2]],
      [['work', 2]],
    ]);
    backend.openGates();
    const done = await Promise.all(added.map((job) => jobs.waitFor(job.id)));
    expect(done.map((job) => job.state)).toEqual(new Array(6).fill('completed'));
    expect([...moduleRef.get(Handlers).ran].sort()).toEqual(added.map((job) => job.id).sort());
    await moduleRef.close();
  });
});

/** A memory backend that counts claims and says when the worker blocks waiting for work. */
class CountingBackend extends MemoryBackend {
  claims = 0;
  private idle = new Deferred<void>();

  override claim(requests: ClaimRequest[], leaseMs: number): Promise<ClaimBatch> {
    this.claims++;
    return super.claim(requests, leaseMs);
  }

  override waitForWork(names: string[], untilAt: number | undefined): Promise<void> {
    this.idle.resolve();
    return super.waitForWork(names, untilAt);
  }

  /** Resolves when the worker next blocks waiting for work. */
  nextIdle(): Promise<void> {
    this.idle = new Deferred<void>();
    return this.idle.promise;
  }
}

describe('claims without a backlog', () => {
  it('sends one claim at a time: an idle worker that wakes for one job makes one claim', async () => {
    const backend = new CountingBackend(resolveJobQueueOptions({}));
    const moduleRef = await compileWithBackend(backend, [Handlers]);
    const firstIdle = backend.nextIdle();
    await moduleRef.init();
    await firstIdle;
    const jobs = moduleRef.get(JobQueueService);
    const before = backend.claims;
    const idleAgain = backend.nextIdle();
    const job = await jobs.add('work', 1);
    await jobs.waitFor(job.id);
    await idleAgain;
    // It got fewer than it asked for, so the worker waits again (its completion goes on its own);
    // with two claims per wake-up it would be 2, the second one coming back empty.
    expect(backend.claims - before).toBe(1);
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
