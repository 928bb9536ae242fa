import { SetMetadata, Sse, UseGuards, UseInterceptors, applyDecorators } from '@nestjs/common';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobEventsGuard } from '../events/job-events.guard';
import { JobEventsInterceptor } from '../events/job-events.interceptor';
import { JobEventsOptions, resolveJobEventsOptions } from '../events/job-events.options';

/**
 * Turns a controller route into a Server-Sent Events stream of one job's events. The method
 * returns the job id (or a promise of it). A malformed id or `Last-Event-ID` answers 400 and an
 * unknown job 404 before the stream opens (checked by a guard on the `idParam` route parameter).
 * Synchronous throws in the method (e.g. ForbiddenException) also reject the request; put
 * authorization that needs I/O in a guard, since Nest may open an SSE response before an async
 * method settles. Each SSE message has `id` = JobEvent.id and `event` = its type.
 */
export function JobEvents(path?: string, options: JobEventsOptions = {}): MethodDecorator {
  return applyDecorators(
    Sse(path),
    SetMetadata(JOB_EVENTS_METADATA, resolveJobEventsOptions(options)),
    UseGuards(JobEventsGuard),
    UseInterceptors(JobEventsInterceptor),
  );
}
