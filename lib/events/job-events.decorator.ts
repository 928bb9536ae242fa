import { SetMetadata, Sse, UseGuards, UseInterceptors, applyDecorators } from '@nestjs/common';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobEventsGuard } from './job-events.guard';
import { JobEventsInterceptor } from './job-events.interceptor';

/** Options of {@link JobEvents}. */
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

/** The reason given to jobs cancelled because their SSE client disconnected. */
export const CLIENT_DISCONNECTED_REASON = 'client-disconnected';

/**
 * Turns a controller route into a Server-Sent Events stream of one job's events. The method
 * returns the job id (or a promise of it). A malformed id or `Last-Event-ID` answers 400 and an
 * unknown job 404 before the stream opens (checked by a guard on the `idParam` route parameter).
 * Synchronous throws in the method (e.g. ForbiddenException) also reject the request; put
 * authorization that needs I/O in a guard, since Nest may open an SSE response before an async
 * method settles. Each SSE message has `id` = JobEvent.id and `event` = its type.
 */
export function JobEvents(path?: string, options: JobEventsOptions = {}): MethodDecorator {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 0) {
    throw new TypeError(`@JobEvents: heartbeatMs must be an integer >= 0 (0 disables); got ${heartbeatMs}.`);
  }
  const resolved: ResolvedJobEventsOptions = {
    cancelOnDisconnect: options.cancelOnDisconnect ?? false,
    heartbeatMs,
    idParam: options.idParam ?? 'id',
  };
  return applyDecorators(
    Sse(path),
    SetMetadata(JOB_EVENTS_METADATA, resolved),
    UseGuards(JobEventsGuard),
    UseInterceptors(JobEventsInterceptor),
  );
}
