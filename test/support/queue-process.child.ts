/**
 * A separate OS process running a Nest application context with the module on Redis, steered by
 * the test over IPC. Started by `QueueProcess.start()`; not a test file itself.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { Cluster } from 'ioredis';
import { Subscription } from 'rxjs';
import {
  Job,
  JobContext,
  JobEvent,
  JobHandler,
  JobQueueModule,
  JobQueueService,
  JobWatchdog,
  OnJobEvent,
} from '../../lib';
import { JobQueueHealthIndicator, JobQueueHealthModule } from '../../lib/health';
import type { ChildCommand, ChildReport } from './queue-process.protocol';

const report = (message: ChildReport) => process.send?.(message);
const settings = JSON.parse(process.env.QUEUE_PROCESS_OPTIONS ?? '{}');
/** On a Redis Cluster: the user's own Cluster instance (the module duplicates it; we close it). */
const cluster: Cluster | undefined = settings.clusterSeeds ? new Cluster(settings.clusterSeeds) : undefined;

/** Reports when the job's signal aborts (cancel, timeout, shutdown), with the reason's message. */
function reportAbort(job: Job, ctx: JobContext): void {
  ctx.signal.addEventListener('abort', () =>
    report({
      type: 'aborted',
      jobId: job.id,
      pid: process.pid,
      at: Date.now(),
      reason: String((ctx.signal.reason as Error)?.message),
    }),
  );
}

@Injectable()
class ChildHandlers {
  /** A short unit of work: reports start and end so the test can check no job ran twice at once. */
  @JobHandler('work', { concurrency: settings.concurrency ?? 4 })
  async work(job: Job<{ ms?: number }>, ctx: JobContext) {
    report({ type: 'started', jobId: job.id, pid: process.pid, at: Date.now(), attempt: ctx.attempt });
    if (job.data?.ms) await abortableDelay(job.data.ms, ctx.signal);
    report({ type: 'ended', jobId: job.id, pid: process.pid, at: Date.now() });
    return { pid: process.pid };
  }

  /** Like 'work', under the options `settings.throttled` (e.g. a rateLimit). */
  @JobHandler('throttled', { concurrency: settings.concurrency ?? 4, ...settings.throttled })
  async throttled(job: Job<{ ms?: number }>, ctx: JobContext) {
    return this.work(job, ctx);
  }

  /** Like 'work', under the options `settings.capped` (e.g. a globalConcurrency). */
  @JobHandler('capped', { concurrency: settings.concurrency ?? 4, ...settings.capped })
  async capped(job: Job<{ ms?: number }>, ctx: JobContext) {
    return this.work(job, ctx);
  }

  /** Emits `steps` tokens every `stepMs`, honouring cancel; reports when its signal aborts. */
  @JobHandler('stream', { concurrency: 4 })
  async stream(job: Job<{ steps: number; stepMs: number }>, ctx: JobContext) {
    report({ type: 'started', jobId: job.id, pid: process.pid, at: Date.now(), attempt: ctx.attempt });
    reportAbort(job, ctx);
    for (let i = 0; i < job.data.steps; i++) {
      ctx.signal.throwIfAborted();
      void ctx.emit('token', { i, pid: process.pid });
      await abortableDelay(job.data.stepMs, ctx.signal);
    }
    return { pid: process.pid };
  }

  /** Ignores its signal entirely and never finishes by itself. */
  @JobHandler('stubborn', { concurrency: 2 })
  async stubborn(job: Job, ctx: JobContext) {
    report({ type: 'started', jobId: job.id, pid: process.pid, at: Date.now(), attempt: ctx.attempt });
    reportAbort(job, ctx);
    await new Promise(() => undefined);
  }
}

/** Reports every hook call, so the test can count them across processes. */
@Injectable()
class ChildHooks {
  @OnJobEvent('queued', { names: ['work'] })
  @OnJobEvent('active', { names: ['work'] })
  @OnJobEvent('completed', { names: ['work'] })
  @OnJobEvent('failed', { names: ['work'] })
  @OnJobEvent('cancelled', { names: ['work'] })
  lifecycle(event: JobEvent, job: Job) {
    report({ type: 'hook', pid: process.pid, event, state: job.state });
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function main(): Promise<void> {
  @Module({
    imports: [
      JobQueueModule.forRoot({ redis: cluster ?? process.env.REDIS_URL, ...settings.module }),
      JobQueueHealthModule,
    ],
    providers: [...(settings.worker === false ? [] : [ChildHandlers]), ...(settings.hooks ? [ChildHooks] : [])],
  })
  class ChildModule {}

  const app = await NestFactory.createApplicationContext(ChildModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const jobs = app.get(JobQueueService);
  const streams = new Map<string, Subscription>();

  process.on('message', async (command: ChildCommand) => {
    try {
      switch (command.cmd) {
        case 'add':
          return reply(command.seq, await jobs.addBulk(command.jobs));
        case 'get':
          return reply(command.seq, await jobs.get(command.jobId));
        case 'history':
          return reply(command.seq, (await jobs.poll(command.jobId, { max: 1000 })).events);
        case 'waitFor':
          return reply(command.seq, await jobs.waitFor(command.jobId));
        case 'cancel':
          return reply(command.seq, { result: await jobs.cancel(command.jobId, command.reason), at: Date.now() });
        case 'ping':
          return reply(command.seq, true);
        case 'metrics':
          return reply(command.seq, await jobs.metrics());
        case 'health':
          return reply(command.seq, await app.get(JobQueueHealthIndicator).isHealthy('queue'));
        case 'sweep':
          return reply(command.seq, await app.get(JobWatchdog).sweep());
        case 'subscribe': {
          const sub = jobs.events(command.jobId, { after: command.after }).subscribe({
            next: (event) => report({ type: 'event', stream: command.stream, event }),
            error: (err) => report({ type: 'stream-error', stream: command.stream, message: String(err?.message) }),
            complete: () => report({ type: 'stream-complete', stream: command.stream }),
          });
          streams.set(command.stream, sub);
          return reply(command.seq, true);
        }
        case 'unsubscribe':
          streams.get(command.stream)?.unsubscribe();
          streams.delete(command.stream);
          return reply(command.seq, true);
        case 'schedule':
          return reply(command.seq, await jobs.schedule(command.scheduleId, command.name, command.data, command.opts));
        case 'schedules':
          return reply(command.seq, await jobs.schedules());
        case 'queueEvents': {
          const sub = jobs
            .queueEvents({ types: command.types, names: command.names })
            .subscribe((event) => report({ type: 'event', stream: command.stream, event }));
          streams.set(command.stream, sub);
          return reply(command.seq, true);
        }
        case 'pause':
          return reply(command.seq, await jobs.pause(command.name));
        case 'resume':
          return reply(command.seq, await jobs.resume(command.name));
        case 'isPaused':
          return reply(command.seq, await jobs.isPaused(command.name));
        case 'close':
          for (const sub of streams.values()) sub.unsubscribe();
          await app.close();
          cluster?.disconnect();
          reply(command.seq, true);
          return process.disconnect?.();
      }
    } catch (err) {
      report({
        type: 'reply',
        seq: command.seq,
        error: { name: (err as Error).name, message: (err as Error).message },
      });
    }
  });
  report({ type: 'ready', pid: process.pid });
}

function reply(seq: number, value: unknown): void {
  report({ type: 'reply', seq, value });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
