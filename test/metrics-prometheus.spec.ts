import { Injectable } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import type { AddressInfo } from 'node:net';
import { Counter, Registry, register as defaultRegistry } from 'prom-client';
import {
  Job,
  JobContext,
  JobHandler,
  JobQueueConfigError,
  JobQueueModule,
  JobQueueModuleOptions,
  JobQueueService,
} from '../lib';
import type { QueueBackend } from '../lib/backends/queue-backend.interface';
import { JOB_QUEUE_BACKEND } from '../lib/job-queue.constants';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { JobWatchdog } from '../lib/watchdog/job-watchdog.service';
import { Deferred } from './support/deferred';
import { PromSample, parsePrometheusText, sampleValue } from './support/prometheus-text';
import { RedisServerHandle, startRedisServer } from './support/redis-server';
import { request } from './support/sse-client';

/** Handlers whose outcomes the tests count: one completes, one throws, one runs until cancelled. */
@Injectable()
class MeteredProcessor {
  started = new Deferred<string>();

  @JobHandler('ok')
  async ok(): Promise<string> {
    return 'done';
  }

  @JobHandler('boom')
  async boom(): Promise<never> {
    throw new Error('boom');
  }

  @JobHandler('slow')
  async slow(job: Job, ctx: JobContext): Promise<void> {
    this.started.resolve(job.id);
    await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }
}

async function boot(options: JobQueueModuleOptions, providers: unknown[] = [MeteredProcessor]): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [JobQueueModule.forRoot({ ...options, isGlobal: false })],
    providers: providers as never[],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

/** Scrapes as Prometheus does: the text exposition, checked strictly. */
async function scrape(registry: Registry): Promise<PromSample[]> {
  return parsePrometheusText(await registry.metrics());
}

describe('Prometheus metrics (memory backend)', () => {
  afterEach(() => defaultRegistry.clear());

  it('counts what happened, by name, in a scrape that passes the text-format check', async () => {
    const registry = new Registry();
    const app = await boot({ metrics: { registry } });
    const jobs = app.get(JobQueueService);
    const processor = app.get(MeteredProcessor);

    for (let i = 0; i < 3; i++) await jobs.waitFor((await jobs.add('ok', i)).id);
    expect((await jobs.waitFor((await jobs.add('boom', null, { attempts: 2 })).id)).state).toBe('failed');
    const slow = await jobs.add('slow', null);
    await processor.started.promise;
    expect(await jobs.cancel(slow.id)).toBe('cancelling');
    expect((await jobs.waitFor(slow.id)).state).toBe('cancelled');
    const delayed = await jobs.add('ok', 'later', { delayMs: 60_000 });
    expect(await jobs.cancel(delayed.id)).toBe('cancelled');
    await jobs.add('ok', 'still later', { delayMs: 60_000 });
    await jobs.addBulk([
      { name: 'unhandled', data: 1 },
      { name: 'unhandled', data: 2 },
    ]);

    const samples = await scrape(registry);
    const value = (name: string, labels: Record<string, string>) =>
      sampleValue(samples, name, { queue: 'jq', ...labels });
    expect(value('jobqueue_jobs_added_total', { name: 'ok' })).toBe(5);
    expect(value('jobqueue_jobs_added_total', { name: 'boom' })).toBe(1);
    expect(value('jobqueue_jobs_added_total', { name: 'unhandled' })).toBe(2);
    expect(value('jobqueue_jobs_completed_total', { name: 'ok' })).toBe(3);
    expect(value('jobqueue_jobs_retried_total', { name: 'boom' })).toBe(1);
    expect(value('jobqueue_jobs_failed_total', { name: 'boom' })).toBe(1);
    expect(value('jobqueue_jobs_cancelled_total', { name: 'slow' })).toBe(1);
    expect(value('jobqueue_jobs_cancelled_total', { name: 'ok' })).toBe(1); // cancelled while delayed
    expect(value('jobqueue_jobs_waiting', { name: 'unhandled' })).toBe(2);
    expect(value('jobqueue_jobs_delayed', { name: 'ok' })).toBe(1);
    expect(value('jobqueue_jobs_waiting', { name: 'slow' })).toBe(0); // a handler name without jobs
    expect(value('jobqueue_jobs_active', { name: 'slow' })).toBe(0);
    expect(value('jobqueue_job_wait_seconds_count', { name: 'ok' })).toBe(3);
    expect(value('jobqueue_job_wait_seconds_count', { name: 'boom' })).toBe(1); // first attempt only
    expect(value('jobqueue_job_run_seconds_count', { name: 'ok', outcome: 'completed' })).toBe(3);
    expect(value('jobqueue_job_run_seconds_count', { name: 'boom', outcome: 'retrying' })).toBe(1);
    expect(value('jobqueue_job_run_seconds_count', { name: 'boom', outcome: 'failed' })).toBe(1);
    expect(value('jobqueue_cancel_delivery_seconds_count', { path: 'local' })).toBe(1);
    expect(value('jobqueue_dispatcher_reconnects_total', {})).toBe(0);
    expect(value('jobqueue_watchdog_reclaims_total', { outcome: 'requeued' })).toBe(0);
    expect(value('jobqueue_client_gone_cancels_total', {})).toBe(0);
    await app.close();
  });

  it('shows a running handler in the active gauge', async () => {
    const registry = new Registry();
    const app = await boot({ metrics: { registry } });
    const jobs = app.get(JobQueueService);
    const slow = await jobs.add('slow', null);
    await app.get(MeteredProcessor).started.promise;
    expect(sampleValue(await scrape(registry), 'jobqueue_jobs_active', { queue: 'jq', name: 'slow' })).toBe(1);
    await jobs.cancel(slow.id);
    await jobs.waitFor(slow.id);
    expect(sampleValue(await scrape(registry), 'jobqueue_jobs_active', { queue: 'jq', name: 'slow' })).toBe(0);
    await app.close();
  });

  it("registers once on prom-client's default registry when several modules share it, each under its queue label", async () => {
    const first = await boot({ prefix: 'first' });
    const second = await boot({ prefix: 'second' });
    await first.get(JobQueueService).add('unhandled', 1);
    await second.get(JobQueueService).add('unhandled', 2);
    const samples = await scrape(defaultRegistry);
    expect(sampleValue(samples, 'jobqueue_jobs_added_total', { queue: 'first', name: 'unhandled' })).toBe(1);
    expect(sampleValue(samples, 'jobqueue_jobs_waiting', { queue: 'second', name: 'unhandled' })).toBe(1);
    await first.close();
    // A closed module's gauges leave the scrape; the other's stay.
    const after = await scrape(defaultRegistry);
    expect(sampleValue(after, 'jobqueue_jobs_waiting', { queue: 'first', name: 'unhandled' })).toBeUndefined();
    expect(sampleValue(after, 'jobqueue_jobs_waiting', { queue: 'second', name: 'unhandled' })).toBe(1);
    await second.close();
  });

  it("shows up on @willsoto/nestjs-prometheus' /metrics next to its default metrics", async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [PrometheusModule.register(), JobQueueModule.forRoot()],
      providers: [MeteredProcessor],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const jobs = app.get(JobQueueService);
      await jobs.waitFor((await jobs.add('ok', 1)).id);
      const { port } = app.getHttpServer().address() as AddressInfo;
      const res = await request('GET', `http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      const samples = parsePrometheusText(res.text);
      expect(sampleValue(samples, 'jobqueue_jobs_completed_total', { queue: 'jq', name: 'ok' })).toBe(1);
      expect(samples.some((s) => s.name === 'process_cpu_seconds_total')).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('refuses, with a typed error, a registry where our metric names are taken by something else', async () => {
    const registry = new Registry();
    registry.registerMetric(new Counter({ name: 'jobqueue_jobs_added_total', help: 'not ours', registers: [] }));
    await expect(boot({ metrics: { registry } })).rejects.toThrow(JobQueueConfigError);
  });

  it('registers nothing with `metrics: false`', async () => {
    const app = await boot({ metrics: false });
    await app.get(JobQueueService).add('ok', 1);
    expect(defaultRegistry.getSingleMetric('jobqueue_jobs_added_total')).toBeUndefined();
    await app.close();
  });

  it('refuses a registry that is not a prom-client Registry', () => {
    expect(() => resolveJobQueueOptions({ metrics: { registry: {} as never } })).toThrow(JobQueueConfigError);
    expect(() => resolveJobQueueOptions({ metrics: true as never })).toThrow(
      /Option 'metrics' must be false or an object/,
    );
  });
});

describe('the strict text-format check used above', () => {
  it('rejects what Prometheus would reject or misread', () => {
    const ok = '# TYPE a counter\na{x="1"} 2\n';
    expect(parsePrometheusText(ok)).toEqual([{ name: 'a', labels: { x: '1' }, value: 2 }]);
    expect(() => parsePrometheusText('a 1\n')).toThrow(/without a TYPE/);
    expect(() => parsePrometheusText('# TYPE a counter\na{x="1"} 2\na{x="1"} 3\n')).toThrow(/duplicate/);
    expect(() => parsePrometheusText('# TYPE a gauge\na{x="\\q"} 1\n')).toThrow(/label set/);
    expect(() =>
      parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'),
    ).toThrow(/cumulative/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 1\n')).toThrow(
      /must equal _count/,
    );
  });
});

describe('Prometheus metrics (Redis backend, two apps as two processes)', () => {
  let redis: RedisServerHandle;
  let worker: TestingModule;
  let producer: TestingModule;
  const workerRegistry = new Registry();
  const producerRegistry = new Registry();

  beforeAll(async () => {
    redis = await startRedisServer({ faults: true });
    const options = { redis: redis.url, prefix: redis.prefix, leaseMs: 1_000 };
    worker = await boot({ ...options, metrics: { registry: workerRegistry } });
    producer = await boot({ ...options, worker: false, metrics: { registry: producerRegistry } }, []);
  });

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await redis?.stop();
  });

  const value = async (registry: Registry, name: string, labels: Record<string, string>) =>
    sampleValue(await scrape(registry), name, { queue: redis.prefix, ...labels });

  it('delivers a cancel from the other app and measures it on the remote path', async () => {
    const jobs = producer.get(JobQueueService);
    const slow = await jobs.add('slow', null);
    await worker.get(MeteredProcessor).started.promise;
    expect(await jobs.cancel(slow.id)).toBe('cancelling');
    expect((await jobs.waitFor(slow.id)).state).toBe('cancelled');
    expect(await value(workerRegistry, 'jobqueue_cancel_delivery_seconds_count', { path: 'remote' })).toBe(1);
    expect(await value(workerRegistry, 'jobqueue_jobs_cancelled_total', { name: 'slow' })).toBe(1);
    expect(await value(producerRegistry, 'jobqueue_jobs_added_total', { name: 'slow' })).toBe(1);
  });

  it('reads waiting and delayed per name from Redis, in every app', async () => {
    const jobs = producer.get(JobQueueService);
    await jobs.addBulk([
      { name: 'orphan', data: 1 },
      { name: 'orphan', data: 2 },
      { name: 'orphan', data: 3, opts: { delayMs: 60_000 } },
    ]);
    for (const registry of [workerRegistry, producerRegistry]) {
      expect(await value(registry, 'jobqueue_jobs_waiting', { name: 'orphan' })).toBe(2);
      expect(await value(registry, 'jobqueue_jobs_delayed', { name: 'orphan' })).toBe(1);
    }
  });

  it('counts watchdog reclaims, stalls by name and client-gone cancels', async () => {
    const jobs = producer.get(JobQueueService);
    const watched = await jobs.add('unwatched', null, { watchClient: true });
    // A process claims a job no handler here runs, and dies: its lease runs out.
    const abandoned = await jobs.add('abandoned', null);
    const backend = producer.get<QueueBackend>(JOB_QUEUE_BACKEND);
    const { jobs: claimed } = await backend.claim([{ name: 'abandoned', max: 1 }], 1_000);
    expect(claimed.map((c) => c.job.id)).toEqual([abandoned.id]);
    // The sweep runs as if the lease and the client timeout were long past.
    const later = Date.now() + 10 * 60_000;
    const now = jest.spyOn(Date, 'now').mockReturnValue(later);
    let sweep;
    try {
      sweep = await worker.get(JobWatchdog).sweep();
    } finally {
      now.mockRestore();
    }
    expect(sweep.stalledRequeued).toEqual([abandoned.id]);
    expect(sweep.clientGone).toEqual([watched.id]);
    expect(await value(workerRegistry, 'jobqueue_watchdog_reclaims_total', { outcome: 'requeued' })).toBe(1);
    expect(await value(workerRegistry, 'jobqueue_jobs_stalled_total', { name: 'abandoned' })).toBe(1);
    expect(await value(workerRegistry, 'jobqueue_client_gone_cancels_total', {})).toBe(1);
    expect(await value(workerRegistry, 'jobqueue_jobs_cancelled_total', { name: 'unwatched' })).toBe(1);
  });

  it('counts a reconnect of the cancel subscription', async () => {
    const backend = worker.get<QueueBackend>(JOB_QUEUE_BACKEND);
    // The listener hears the current state at once: wait for a 'down', then the 'up' after it.
    let wentDown = false;
    const back = new Deferred();
    const off = backend.onSubscriptionState((state) => {
      if (state === 'down') wentDown = true;
      else if (wentDown) back.resolve();
    });
    try {
      await redis.restart();
      await back.promise;
    } finally {
      off();
    }
    expect(await value(workerRegistry, 'jobqueue_dispatcher_reconnects_total', {})).toBe(1);
  });
});
