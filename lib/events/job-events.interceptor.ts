import { CallHandler, ExecutionContext, Injectable, MessageEvent, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Observable, lastValueFrom } from 'rxjs';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobQueueService } from '../job-queue.service';
import { CLIENT_DISCONNECTED_REASON } from './job-events.constants';
import type { ResolvedJobEventsOptions } from './job-events.options';
import { JobEventsRequest, assertJobExists, lastEventId } from './job-events.request';

/**
 * Resolves the job id the route method returns (re-checked: it may differ from the route
 * parameter the guard checked), then maps the job's events to SSE messages
 * with heartbeats. Unsubscribing (client gone) releases the backend subscription and, with
 * `cancelOnDisconnect`, cancels a job that has not ended.
 */
@Injectable()
export class JobEventsInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly jobs: JobQueueService,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<MessageEvent>> {
    const options = this.reflector.get<ResolvedJobEventsOptions>(JOB_EVENTS_METADATA, context.getHandler());
    const request = context.switchToHttp().getRequest<JobEventsRequest>();
    const after = lastEventId(request);
    const returned: unknown = await lastValueFrom(next.handle());
    // The guard checked the route parameter; a method that maps it to another id gets checked here.
    const jobId = returned === request.params?.[options.idParam] ? (returned as string) : await assertJobExists(this.jobs, returned);

    return new Observable<MessageEvent>((subscriber) => {
      let ended = false;
      const events = this.jobs.events(jobId, { after }).subscribe({
        next: (event) => subscriber.next({ id: event.id, type: event.type, data: event }),
        error: (err) => {
          ended = true; // the stream failed; the client did not leave
          subscriber.error(err);
        },
        complete: () => {
          ended = true;
          subscriber.complete();
        },
      });
      const heartbeat =
        options.heartbeatMs > 0 ? setInterval(() => subscriber.next(HEARTBEAT), options.heartbeatMs) : undefined;
      return () => {
        clearInterval(heartbeat);
        events.unsubscribe();
        if (!ended && options.cancelOnDisconnect) {
          void this.jobs.cancel(jobId, CLIENT_DISCONNECTED_REASON).catch(() => undefined);
        }
      };
    });
  }
}

/** An SSE comment line: ignored by EventSource, keeps proxies from closing an idle stream. */
const HEARTBEAT: MessageEvent = { comment: 'heartbeat' };
