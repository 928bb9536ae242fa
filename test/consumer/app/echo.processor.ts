import { Injectable } from '@nestjs/common';
import type { INestApplicationContext } from '@nestjs/common';
import { Job, JobContext, JobHandler, JobQueueService } from 'nestjs-job-queue';

@Injectable()
export class EchoProcessor {
  @JobHandler('echo')
  async echo(job: Job<{ text: string }>, ctx: JobContext): Promise<string> {
    await ctx.progress(1);
    return job.data.text.toUpperCase();
  }
}

/** Adds one job, waits for it and returns its result; throws when it did not complete. */
export async function runOneJob(app: INestApplicationContext): Promise<unknown> {
  const jobs = app.get(JobQueueService);
  const job = await jobs.add('echo', { text: 'from the tarball' });
  const done = await jobs.waitFor(job.id, { timeoutMs: 10_000 });
  if (done.state !== 'completed') throw new Error(`job ended ${done.state}: ${done.error}`);
  return done.result;
}

/** What each app prints as its last line, for the test to parse. */
export function report(result: Record<string, unknown>): void {
  console.log(JSON.stringify(result));
}
