import {
  type Attributes,
  type Context,
  type Span,
  ProxyTracerProvider,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
} from '@opentelemetry/api';
import type { ClaimedJob, NewJob } from '../backends/queue-backend.interface';
import type { RegisteredJobHandler } from '../discovery/job-handler.registry';
import type { JobAbortedError } from '../errors/job-queue.errors';
import type { Job } from '../interfaces/job.interface';
import type { AttemptOutcome } from '../worker/running-job';
import type { EndProducerSpans, JobTracer } from './job-tracer.interface';

/** The instrumentation scope of our spans. */
const TRACER_NAME = 'nestjs-job-queue';
const MESSAGING_SYSTEM = 'nestjs-job-queue';

/** The API's no-op provider: what the global provider delegates to while no SDK is registered. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Whether an SDK is registered (checked per call: one may be registered after boot). Without one,
 * the API would hand out non-recording spans for nothing: skipping them keeps an app that merely has
 * `@opentelemetry/api` installed (a dependency of prom-client 15, for one) at the cost of no tracing.
 */
function sdkRegistered(): boolean {
  const provider = trace.getTracerProvider() as { getDelegate?: () => unknown };
  return (provider.getDelegate ? provider.getDelegate() : provider) !== NOOP_PROVIDER;
}

/** Outcomes that end a consumer span with an error status. */
const ERROR_OUTCOMES: ReadonlySet<AttemptOutcome> = new Set<AttemptOutcome>(['failed', 'retrying']);

/**
 * Producer and consumer spans with the OpenTelemetry API (loaded only when it is installed). Spans
 * follow the messaging conventions: `<name> publish` (PRODUCER) per added job, `<name> process`
 * (CONSUMER) per attempt, child of the producer's context and linked to it. Without an SDK
 * registered the API hands out non-recording spans and nothing is stored with the job.
 * @internal
 */
export class OtelJobTracer implements JobTracer {
  private readonly tracer = trace.getTracer(TRACER_NAME);
  /** Consumer spans of the attempts running here, by their claimed job object (one per attempt). */
  private readonly running = new WeakMap<Job, Span>();

  produce(specs: NewJob[]): EndProducerSpans | undefined {
    if (!sdkRegistered()) return undefined;
    const spans = specs.map((spec) => {
      const span = this.tracer.startSpan(`${spec.name} publish`, {
        kind: SpanKind.PRODUCER,
        attributes: { ...jobAttributes(spec.id, spec.name), 'messaging.operation.type': 'send' },
      });
      const carrier: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), span), carrier);
      if (Object.keys(carrier).length > 0) spec.traceContext = JSON.stringify(carrier);
      return span;
    });
    return (error?: unknown) => {
      for (const span of spans) {
        if (error !== undefined) {
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: error instanceof Error ? error.message : String(error),
          });
        }
        span.end();
      }
    };
  }

  traced(handler: RegisteredJobHandler, claimed: ClaimedJob): RegisteredJobHandler {
    if (!sdkRegistered()) return handler;
    const producer = extract(claimed.traceContext);
    const producerSpan = producer && trace.getSpanContext(producer);
    const span = this.tracer.startSpan(
      `${claimed.job.name} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          ...jobAttributes(claimed.job.id, claimed.job.name),
          'job.attempt': claimed.job.attempt,
          'messaging.operation.type': 'process',
        },
        links: producerSpan ? [{ context: producerSpan }] : [],
      },
      producer ?? context.active(),
    );
    this.running.set(claimed.job, span);
    const spanContext = trace.setSpan(producer ?? context.active(), span);
    return {
      ...handler,
      run: (job, ctx) => {
        // Cancel, timeout, shutdown and a lost lease (stall) all abort the signal: each is an event.
        const onAbort = () => {
          const reason = ctx.signal.reason as JobAbortedError | undefined;
          span.addEvent(
            reason?.kind ?? 'abort',
            reason?.reason === undefined ? {} : { 'job.abort.reason': reason.reason },
          );
        };
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
        return context.with(spanContext, () => handler.run(job, ctx));
      },
    };
  }

  attemptEnded(job: Job, outcome: AttemptOutcome): void {
    const span = this.running.get(job);
    if (!span) return;
    this.running.delete(job);
    span.setAttribute('job.outcome', outcome);
    if (ERROR_OUTCOMES.has(outcome)) span.setStatus({ code: SpanStatusCode.ERROR, message: `attempt ${outcome}` });
    span.end();
  }
}

function jobAttributes(id: string, name: string): Attributes {
  return {
    'messaging.system': MESSAGING_SYSTEM,
    'messaging.destination.name': name,
    'messaging.message.id': id,
    'job.id': id,
    'job.name': name,
  };
}

/** The producer's context from a stored carrier; undefined when there is none or it is unreadable. */
function extract(traceContext: string | undefined): Context | undefined {
  if (traceContext === undefined) return undefined;
  try {
    const carrier = JSON.parse(traceContext) as unknown;
    if (typeof carrier !== 'object' || carrier === null) return undefined;
    const extracted = propagation.extract(context.active(), carrier);
    return trace.getSpanContext(extracted) ? extracted : undefined;
  } catch {
    return undefined;
  }
}
