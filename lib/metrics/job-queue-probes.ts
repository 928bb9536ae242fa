import { Injectable } from '@nestjs/common';
import type { Job } from '../interfaces/job.interface';
import type { AttemptOutcome } from '../worker/running-job';

/** Where a cancel reached the handler: in the process that requested it, or through the subscription. */
export type CancelDeliveryPath = 'local' | 'remote';

/** The job ids one watchdog sweep acted on (the shape of `JobWatchdogSweep`). */
export interface SweptJobIds {
  stalledRequeued: string[];
  stalledFailed: string[];
  stalledCancelled: string[];
  clientGone: string[];
}

/**
 * What the queue's components report as it happens, for metrics and tracing sinks; a sink
 * implements the calls it needs. Every call is made synchronously on the component's path: a
 * probe must return at once and never throw.
 */
export interface JobQueueProbe {
  jobsAdded?(jobs: readonly Job[]): void;
  attemptStarted?(job: Job): void;
  /** The attempt's outcome was recorded (`job` is the claimed job object the handler got). */
  attemptEnded?(job: Job, outcome: AttemptOutcome): void;
  /** A waiting or delayed job was cancelled in the store (no handler involved). */
  cancelledInStore?(jobId: string): void;
  cancelDelivered?(path: CancelDeliveryPath, latencyMs: number): void;
  dispatcherReconnected?(): void;
  watchdogSwept?(sweep: SweptJobIds): void;
}

/**
 * The probes attached to this module instance: the components call it, the sinks (Prometheus) attach
 * themselves at start. With no sink attached every call is an empty loop.
 * @internal
 */
@Injectable()
export class JobQueueProbes implements Required<JobQueueProbe> {
  private readonly sinks = new Set<JobQueueProbe>();

  /** Attaches a sink; returns its detach function. */
  attach(sink: JobQueueProbe): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  jobsAdded(jobs: readonly Job[]): void {
    for (const sink of this.sinks) sink.jobsAdded?.(jobs);
  }

  attemptStarted(job: Job): void {
    for (const sink of this.sinks) sink.attemptStarted?.(job);
  }

  attemptEnded(job: Job, outcome: AttemptOutcome): void {
    for (const sink of this.sinks) sink.attemptEnded?.(job, outcome);
  }

  cancelledInStore(jobId: string): void {
    for (const sink of this.sinks) sink.cancelledInStore?.(jobId);
  }

  cancelDelivered(path: CancelDeliveryPath, latencyMs: number): void {
    for (const sink of this.sinks) sink.cancelDelivered?.(path, latencyMs);
  }

  dispatcherReconnected(): void {
    for (const sink of this.sinks) sink.dispatcherReconnected?.();
  }

  watchdogSwept(sweep: SweptJobIds): void {
    for (const sink of this.sinks) sink.watchdogSwept?.(sweep);
  }
}
