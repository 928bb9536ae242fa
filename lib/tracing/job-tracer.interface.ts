import type { ClaimedJob, NewJob } from '../backends/queue-backend.interface';
import type { RegisteredJobHandler } from '../discovery/job-handler.registry';
import type { JobQueueProbe } from '../metrics/job-queue-probes';

/** Ends the producer spans of one `add()` call (with the error when the add failed). */
export type EndProducerSpans = (error?: unknown) => void;

/** What the module needs of a tracer; the OpenTelemetry one is loaded only when its API is installed. */
export interface JobTracer extends JobQueueProbe {
  /** Starts one producer span per job and stores its context on the spec; returns their end (undefined: not tracing now). */
  produce(specs: NewJob[]): EndProducerSpans | undefined;
  /** The handler, run inside a consumer span of this attempt (ended by the `attemptEnded` probe call). */
  traced(handler: RegisteredJobHandler, claimed: ClaimedJob): RegisteredJobHandler;
}
