/**
 * A separate OS process that runs the 'traced' handler on Redis with an OpenTelemetry SDK, and sends
 * each finished span to the test over IPC. Started by test/tracing-otel.spec.ts; not a test file.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { trace } from '@opentelemetry/api';
import { Job, JobContext, JobHandler, JobQueueModule } from '../../lib';
import { installTestTracing, spanRecord } from './otel-test-sdk';

installTestTracing((span) => process.send?.({ type: 'span', span: spanRecord(span) }));

@Injectable()
class TracedHandlers {
  /** Reports the span it runs in; with `wait`, runs until its signal aborts. */
  @JobHandler('traced')
  async traced(job: Job<{ wait?: boolean }>, ctx: JobContext): Promise<string> {
    process.send?.({ type: 'started', jobId: job.id, activeSpanId: trace.getActiveSpan()?.spanContext().spanId });
    if (job.data.wait) {
      await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    }
    return 'ok';
  }
}

@Module({
  imports: [JobQueueModule.forRoot({ redis: process.env.REDIS_URL, prefix: process.env.JQ_PREFIX, metrics: false })],
  providers: [TracedHandlers],
})
class TracedWorkerModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(TracedWorkerModule, { logger: false });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'stop') void app.close().then(() => process.exit(0));
  });
  // The test is gone: do not outlive it.
  process.on('disconnect', () => process.exit(1));
  process.send?.({ type: 'ready' });
}

void main();
