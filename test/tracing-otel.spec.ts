import { Test, TestingModule } from '@nestjs/testing';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import { JobQueueModule, JobQueueService } from '../lib';
import { DeferredMap } from './support/deferred';
import { SpanRecord, installTestTracing, spanRecord } from './support/otel-test-sdk';
import { RedisServerHandle, startRedisServer } from './support/redis-server';

type ChildMessage =
  { type: 'ready' } | { type: 'started'; jobId: string; activeSpanId?: string } | { type: 'span'; span: SpanRecord };

/**
 * Two processes on one Redis: this one adds jobs (producer spans, in-memory exporter here), a child
 * process runs them (consumer spans, sent back over IPC from its own SDK).
 */
describe('OpenTelemetry tracing across two processes (Redis)', () => {
  let exporter: InMemorySpanExporter;
  let redis: RedisServerHandle;
  let producer: TestingModule;
  let child: ChildProcess;
  const started = new DeferredMap<string | undefined>();
  const consumerSpans = new DeferredMap<SpanRecord>();

  beforeAll(async () => {
    exporter = installTestTracing();
    redis = await startRedisServer();
    producer = await Test.createTestingModule({
      imports: [JobQueueModule.forRoot({ redis: redis.url, prefix: redis.prefix, worker: false, metrics: false })],
    }).compile();
    await producer.init();
    child = fork(path.join(__dirname, 'support', 'traced-worker.child.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, REDIS_URL: redis.url, JQ_PREFIX: redis.prefix },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'started') started.get(message.jobId).resolve(message.activeSpanId);
        else if (message.span.kind === SpanKind.CONSUMER)
          consumerSpans.get(String(message.span.attributes['job.id'])).resolve(message.span);
      });
      child.once('exit', (code) => reject(new Error(`the traced worker exited with ${code} before it was ready`)));
    });
  });

  afterAll(async () => {
    if (child?.connected) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      await exited;
    }
    await producer?.close();
    await redis?.stop();
  });

  function producerSpanOf(jobId: string): SpanRecord {
    const spans = exporter
      .getFinishedSpans()
      .map(spanRecord)
      .filter((s) => s.attributes['job.id'] === jobId);
    expect(spans).toHaveLength(1);
    return spans[0];
  }

  it('runs the handler in a consumer span that continues and links the producer span of add()', async () => {
    const jobs = producer.get(JobQueueService);
    const job = await jobs.add('traced', {});
    expect((await jobs.waitFor(job.id)).state).toBe('completed');

    const sent = producerSpanOf(job.id);
    expect(sent).toMatchObject({
      name: 'traced publish',
      kind: SpanKind.PRODUCER,
      attributes: { 'job.name': 'traced' },
    });
    const processed = await consumerSpans.get(job.id).promise;
    expect(processed).toMatchObject({
      name: 'traced process',
      kind: SpanKind.CONSUMER,
      traceId: sent.traceId,
      parentSpanId: sent.spanId,
      links: [{ traceId: sent.traceId, spanId: sent.spanId }],
      attributes: { 'job.id': job.id, 'job.name': 'traced', 'job.attempt': 1, 'job.outcome': 'completed' },
      statusCode: SpanStatusCode.UNSET,
    });
    // The handler ran inside it: its own spans would be children of the consumer span.
    expect(await started.get(job.id).promise).toBe(processed.spanId);
  });

  it('records a cancel from the other process as a span event, and the outcome', async () => {
    const jobs = producer.get(JobQueueService);
    const job = await jobs.add('traced', { wait: true });
    await started.get(job.id).promise;
    expect(await jobs.cancel(job.id, 'user asked')).toBe('cancelling');
    expect((await jobs.waitFor(job.id)).state).toBe('cancelled');
    const processed = await consumerSpans.get(job.id).promise;
    expect(processed.events).toEqual([{ name: 'cancel', attributes: { 'job.abort.reason': 'user asked' } }]);
    expect(processed.attributes['job.outcome']).toBe('cancelled');
    expect(processed.traceId).toBe(producerSpanOf(job.id).traceId);
  });
});
