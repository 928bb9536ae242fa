import { JobQueueConfigError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import { requireInteger } from '../validation/require-integer';

/** Options of `@JobEvents`. */
export interface JobEventsOptions {
  /**
   * Cancel the job (reason 'client-disconnected') when its client goes away before the job ended.
   * `true` waits `graceMs` = 10 000 first and cancels only if no stream of that job was opened again
   * in the meantime (a reload or a dropped connection comes back after the EventSource reconnect
   * delay); `{ graceMs: 0 }` cancels at once. Default false.
   */
  cancelOnDisconnect?: boolean | { graceMs?: number };
  /** Interval of heartbeats that keep proxies from closing an idle stream, ms. Default 15 000; 0 disables. */
  heartbeatMs?: number;
  /**
   * Route parameter holding the job id, checked (400/404/204) by a guard before the stream opens.
   * Without such a parameter in the route's path none of these answers exist (see `@JobEvents`).
   * Default 'id'.
   */
  idParam?: string;
  /**
   * Makes the route one stream for many jobs: the job ids come comma-separated (at most 100) in this
   * query parameter, e.g. 'ids' for `?ids=a,b,c`, checked by the guard; the method must return
   * those same ids as an array (in any order; other ids fail the request with a JobQueueConfigError,
   * since the guard's answers and the cursor are laid out by the query). Each message's `id` is a
   * cursor holding every job's last event id in the order of the query, so one `Last-Event-ID`
   * resumes each job where it stopped; the stream ends when every job has ended. An unknown (or
   * expired) job sends nothing and counts as ended: 404 only when every job is unknown, 204 when
   * a resume has nothing left to send of any job. Default: unset (one job).
   */
  idsQuery?: string;
  /** Sent as SSE `retry:` when the stream opens: the browser's reconnect delay, ms. Default: unset (the browser's own, about 3 s). */
  retryMs?: number;
  /**
   * true (default): every message carries `event: <type>` (listen with `addEventListener(type)`).
   * false: messages are unnamed, so `onmessage` sees every event; the type stays in the JSON `data`.
   */
  namedEvents?: boolean;
}

/** {@link JobEventsOptions} with defaults applied. */
export interface ResolvedJobEventsOptions {
  /** false, or how long a disconnected job waits for a stream to come back before it is cancelled. */
  cancelOnDisconnect: false | { graceMs: number };
  heartbeatMs: number;
  idParam: string;
  idsQuery: string | undefined;
  retryMs: number | undefined;
  namedEvents: boolean;
}

/** Default wait before cancel-on-disconnect cancels: longer than EventSource's ~3 s reconnect delay. */
export const DEFAULT_DISCONNECT_GRACE_MS = 10_000;

/** Applies the defaults and checks the values. @throws JobQueueConfigError for an option out of range */
export function resolveJobEventsOptions(options: JobEventsOptions): ResolvedJobEventsOptions {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  requireInteger('@JobEvents heartbeatMs', heartbeatMs, 0, undefined, '0 disables');
  const retryMs = options.retryMs;
  if (retryMs !== undefined) requireInteger('@JobEvents retryMs', retryMs, 1);
  const cancelOnDisconnect = resolveCancelOnDisconnect(options.cancelOnDisconnect);
  if (
    cancelOnDisconnect &&
    cancelOnDisconnect.graceMs > 0 &&
    retryMs !== undefined &&
    cancelOnDisconnect.graceMs <= retryMs
  ) {
    throw new JobQueueConfigError(Messages.graceNotAfterRetry(cancelOnDisconnect.graceMs, retryMs));
  }
  return {
    cancelOnDisconnect,
    heartbeatMs,
    idParam: options.idParam ?? 'id',
    idsQuery: options.idsQuery,
    retryMs,
    namedEvents: options.namedEvents ?? true,
  };
}

function resolveCancelOnDisconnect(value: JobEventsOptions['cancelOnDisconnect']): false | { graceMs: number } {
  if (value === undefined || value === false) return false;
  const graceMs = value === true ? DEFAULT_DISCONNECT_GRACE_MS : (value.graceMs ?? DEFAULT_DISCONNECT_GRACE_MS);
  requireInteger('@JobEvents cancelOnDisconnect.graceMs', graceMs, 0, undefined, '0 cancels at once');
  return { graceMs };
}
