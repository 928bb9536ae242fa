import { SetMetadata, Sse, UseGuards, UseInterceptors, applyDecorators } from '@nestjs/common';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobEventsGuard } from '../events/job-events.guard';
import { JobEventsInterceptor } from '../events/job-events.interceptor';
import { JobEventsOptions, resolveJobEventsOptions } from '../events/job-events.options';

/**
 * Turns a controller route into a Server-Sent Events stream of one job's events (or, with
 * `idsQuery`, of many jobs' over one connection). The method returns the job id (or a promise of
 * it; with `idsQuery`, the query's ids as an array). Each SSE message has `id` = JobEvent.id (a
 * cursor of every job's last id, with `idsQuery`) and `event` = its type.
 *
 * Answers other than the stream are decided by a guard, before the stream opens, from the ids it
 * can read in the request: the `idParam` route parameter (default ':id') or the `idsQuery` list.
 * A malformed id or resume point answers 400, an unknown job 404, and a resume at or past the
 * terminal event 204 (which stops a browser's EventSource). A single-job route whose path has no
 * `idParam` parameter (the id comes from a query, the session…) gets none of these: its returned
 * id is checked after the 200 headers may be out, so an unknown id ends the stream with an SSE
 * `error` event, and a resume at the end gets an empty stream that closes at once, which a plain
 * EventSource reconnects to every few seconds. Put the id in the path (or use the browser client,
 * which closes on the terminal event). A method returning another id than the parameter streams
 * that id, checked the same late way.
 *
 * Synchronous throws in the method (e.g. ForbiddenException) also reject the request; put
 * authorization that needs I/O in a guard, since Nest may open an SSE response before an async
 * method settles.
 */
export function JobEvents(path?: string, options: JobEventsOptions = {}): MethodDecorator {
  return applyDecorators(
    Sse(path),
    SetMetadata(JOB_EVENTS_METADATA, resolveJobEventsOptions(options)),
    UseGuards(JobEventsGuard),
    UseInterceptors(JobEventsInterceptor),
  );
}
