import { Injectable, Logger } from '@nestjs/common';
import { JobContext, JobHandler, JobQueueService } from '../lib';
import { MemoryBackend } from '../lib/backends/memory/memory.backend';
import type { Lease } from '../lib/backends/queue-backend.interface';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { compileWithBackend } from './support/backend-module';

/** A memory backend whose first `failing` progress writes fail, as while the store is unreachable. */
class FlakyProgressBackend extends MemoryBackend {
  failing = 5;

  override async progress(lease: Lease, valueJson: string): Promise<boolean> {
    if (this.failing > 0) {
      this.failing--;
      throw new Error('Connection is closed.');
    }
    return super.progress(lease, valueJson);
  }
}

@Injectable()
class Handlers {
  @JobHandler('report')
  async report(_job: unknown, ctx: JobContext): Promise<void> {
    for (let step = 1; step <= 6; step++) await ctx.progress(step);
  }
}

describe("a handler's event writes that fail", () => {
  it('are logged once per outage, with how many were not logged once writes work again, and the job still completes', async () => {
    const backend = new FlakyProgressBackend(resolveJobQueueOptions({}));
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const logs = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const moduleRef = await compileWithBackend(backend, [Handlers]);
    await moduleRef.init();
    try {
      const jobs = moduleRef.get(JobQueueService);
      const job = await jobs.add('report', null);
      expect((await jobs.waitFor(job.id)).state).toBe('completed');
      const failures = errors.mock.calls.map(([m]) => String(m)).filter((m) => m.includes('custom events failed'));
      expect(failures).toEqual([
        `Writing handlers' progress and custom events failed: job '${job.id}': Connection is closed.`,
      ]);
      expect(logs.mock.calls.map(([m]) => String(m))).toContain(
        "Writing handlers' progress and custom events recovered (4 more failures were not logged).",
      );
      // The write that worked is in the history; the five that failed are lost.
      expect((await jobs.poll(job.id)).events.filter((e) => e.type === 'progress').map((e) => e.data)).toEqual([6]);
    } finally {
      errors.mockRestore();
      logs.mockRestore();
      await moduleRef.close();
    }
  });
});
