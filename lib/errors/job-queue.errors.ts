/** Root of every error this library throws on purpose. */
export class JobQueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** `add()` refused because the queue already holds `maxWaiting` waiting/delayed jobs. */
export class QueueFullError extends JobQueueError {}

/** The queue is shutting down (or closed) and accepts no new work. */
export class QueueDrainedError extends JobQueueError {}

/** No job has this id (never added, or removed after its retention). */
export class JobNotFoundError extends JobQueueError {
  constructor(
    message: string,
    readonly jobId: string,
  ) {
    super(message);
  }
}

/** Bad job name, id, options or data; nothing was written. */
export class InvalidJobError extends JobQueueError {}

/** Bad module options: the module refuses to start. */
export class JobQueueConfigError extends JobQueueError {}

/** Why a handler's `ctx.signal` was aborted. */
export type JobAbortKind = 'cancel' | 'timeout' | 'shutdown' | 'lease-lost';

/**
 * The `reason` of an aborted `ctx.signal` (and what `signal.throwIfAborted()` throws). `kind` says
 * why; for a cancel, `reason` is the text given to `cancel()` (e.g. 'client-gone').
 */
export class JobAbortedError extends JobQueueError {
  constructor(
    readonly kind: JobAbortKind,
    readonly reason: string,
  ) {
    super(`Job aborted (${kind}): ${reason}`);
  }
}

/**
 * Thrown by a handler: fails the job at once, with no further attempts (backoff and `attempts`
 * are ignored). Its message becomes the job's `error`.
 */
export class UnrecoverableJobError extends JobQueueError {}
