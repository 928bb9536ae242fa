/** Options of `@JobEvents`. */
export interface JobEventsOptions {
  /** Cancel the job (reason 'client-disconnected') when the client goes away before the job ended. Default false. */
  cancelOnDisconnect?: boolean;
  /** Interval of SSE comment heartbeats that keep proxies from closing an idle stream, ms. Default 15 000; 0 disables. */
  heartbeatMs?: number;
  /** Route parameter holding the job id, checked (400/404) by a guard before the stream opens. Default 'id'. */
  idParam?: string;
}

/** {@link JobEventsOptions} with defaults applied. */
export type ResolvedJobEventsOptions = Required<JobEventsOptions>;

/** Applies the defaults and checks the values. @throws TypeError for an option out of range */
export function resolveJobEventsOptions(options: JobEventsOptions): ResolvedJobEventsOptions {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 0) {
    throw new TypeError(`@JobEvents: heartbeatMs must be an integer >= 0 (0 disables); got ${heartbeatMs}.`);
  }
  return {
    cancelOnDisconnect: options.cancelOnDisconnect ?? false,
    heartbeatMs,
    idParam: options.idParam ?? 'id',
  };
}
