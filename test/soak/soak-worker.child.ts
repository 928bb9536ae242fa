/**
 * A soak worker: a separate OS process running a Nest application context with the module on
 * Redis and one handler, `soak`, that reports every run's start and end to the driver over IPC
 * (the side channel the invariant checker reads). Started by `SoakWorker.start()`.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { Job, JobContext, JobHandler, JobQueueModule } from '../../lib';
import { SOAK_CONCURRENCY, type SoakJobData, type SoakReport } from './soak-protocol';

const report = (message: SoakReport) => process.send?.(message);

/** Handlers of this process running now (the slot count `concurrency` must bound). */
let running = 0;

@Injectable()
class SoakHandlers {
  @JobHandler('soak', { concurrency: SOAK_CONCURRENCY })
  async soak(job: Job<SoakJobData>, ctx: JobContext) {
    const runId = randomUUID();
    running++;
    report({ t: 'start', jobId: job.id, runId, attempt: ctx.attempt, pid: process.pid, running });
    try {
      for (let step = 0; step < job.data.steps; step++) {
        if (!job.data.stubborn) ctx.signal.throwIfAborted();
        void ctx.emit('tick', { step, runId });
        await sleep(job.data.stepMs, job.data.stubborn ? undefined : ctx.signal);
      }
      if (ctx.attempt <= job.data.failAttempts) throw new Error(`planned failure of attempt ${ctx.attempt}`);
      report({ t: 'end', jobId: job.id, runId, pid: process.pid, outcome: 'returned' });
      return { runId };
    } catch (err) {
      report({ t: 'end', jobId: job.id, runId, pid: process.pid, outcome: 'threw' });
      throw err;
    } finally {
      running--;
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function main(): Promise<void> {
  const options = JSON.parse(process.env.SOAK_MODULE_OPTIONS ?? '{}');

  @Module({ imports: [JobQueueModule.forRoot(options)], providers: [SoakHandlers] })
  class SoakWorkerModule {}

  const app = await NestFactory.createApplicationContext(SoakWorkerModule, { logger: ['error'] });
  process.on('message', async (command: { cmd: 'close' }) => {
    if (command.cmd !== 'close') return;
    await app.close();
    report({ t: 'closed', pid: process.pid });
    process.disconnect?.();
  });
  report({ t: 'ready', pid: process.pid });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
