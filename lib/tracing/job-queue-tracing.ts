import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { ClaimedJob, NewJob } from '../backends/queue-backend.interface';
import type { RegisteredJobHandler } from '../discovery/job-handler.registry';
import { JobQueueProbes } from '../metrics/job-queue-probes';
import { isPeerInstalled } from '../utils/optional-peer';
import type { EndProducerSpans, JobTracer } from './job-tracer.interface';

/**
 * OpenTelemetry tracing when the optional peer `@opentelemetry/api` is installed: a producer span
 * per added job whose context travels with the job, and a consumer span around each attempt. The
 * OpenTelemetry code loads only then (this file imports none of it); otherwise every method is one
 * check and returns what it was given.
 * @internal
 */
@Injectable()
export class JobQueueTracing implements OnModuleInit, OnApplicationShutdown {
  private tracer?: JobTracer;
  private detach?: () => void;

  constructor(private readonly probes: JobQueueProbes) {}

  /** Loaded before the worker starts (bootstrap), so the first attempt is traced. */
  async onModuleInit(): Promise<void> {
    if (!isPeerInstalled('@opentelemetry/api')) return;
    const { OtelJobTracer } = await import('./otel-job-tracer');
    this.tracer = new OtelJobTracer();
    // Attempt outcomes reach the tracer as probe calls, like the metrics.
    this.detach = this.probes.attach(this.tracer);
  }

  onApplicationShutdown(): void {
    this.detach?.();
    this.detach = undefined;
  }

  /** Starts one producer span per job and stores its context on the spec; returns their end. */
  produce(specs: NewJob[]): EndProducerSpans | undefined {
    return this.tracer?.produce(specs);
  }

  /** The handler, run inside a consumer span of this attempt when tracing is on. */
  traced(handler: RegisteredJobHandler, claimed: ClaimedJob): RegisteredJobHandler {
    return this.tracer ? this.tracer.traced(handler, claimed) : handler;
  }
}
