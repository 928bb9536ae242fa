import {
  BeforeApplicationShutdown,
  CallHandler,
  ExecutionContext,
  Injectable,
  MessageEvent,
  NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Observable, Subscriber, lastValueFrom } from 'rxjs';
import type { JobEvent } from '../interfaces/job.interface';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobQueueService } from '../job-queue.service';
import { CLIENT_DISCONNECTED_REASON } from './job-events.constants';
import type { ResolvedJobEventsOptions } from './job-events.options';
import { JobEventsRequest, assertJobExists, lastEventId } from './job-events.request';

/**
 * Resolves the job id the route method returns (re-checked: it may differ from the route
 * parameter the guard checked), then maps the job's events to SSE messages with heartbeats.
 * Unsubscribing (client gone) releases the backend subscription and, with `cancelOnDisconnect`,
 * cancels a job that has not ended unless a stream of it opens again within the grace.
 * Once the application begins to shut down, every open stream ends (the browser reconnects to
 * another process and resumes), so the HTTP server can close while the worker drains.
 *
 * Only `id`, `event`, `retry` and `data` are written: `MessageEvent.comment` is missing from the
 * lower end of the supported @nestjs/common range, and Nest numbers messages that have no `id`.
 */
@Injectable()
export class JobEventsInterceptor implements NestInterceptor, BeforeApplicationShutdown {
  /** Open SSE responses served through this interceptor. */
  private readonly open = new Set<Subscriber<MessageEvent>>();
  /** Open streams per job id, to see a disconnected client come back. */
  private readonly following = new Map<string, number>();
  /** Pending cancel-on-disconnect decisions. */
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private closing = false;

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
    return this.stream(jobId, after, options);
  }

  /**
   * Ends every open stream as soon as shutdown begins (before the worker's drain), and forgets
   * pending cancel-on-disconnect decisions: the watchdog's client timeout covers a client that never
   * comes back. @internal
   */
  beforeApplicationShutdown(): void {
    this.closing = true;
    for (const subscriber of [...this.open]) subscriber.complete();
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
  }

  private stream(jobId: string, after: string | undefined, options: ResolvedJobEventsOptions): Observable<MessageEvent> {
    return new Observable<MessageEvent>((subscriber) => {
      // The first message sends the headers at once on every Nest version and sets the browser's
      // resume point (and reconnect delay); it has no data, so EventSource dispatches nothing.
      let lastId = after ?? '0';
      subscriber.next(silentMessage(lastId, options.retryMs));
      if (this.closing || this.jobs.isShuttingDown) return subscriber.complete();

      let ended = false;
      this.open.add(subscriber);
      this.follow(jobId, +1);
      const events = this.jobs.events(jobId, { after }).subscribe({
        next: (event) => {
          lastId = event.id;
          subscriber.next(toMessage(event, options.namedEvents));
        },
        error: (err) => {
          ended = true; // the stream failed; the client did not leave
          subscriber.error(err);
        },
        complete: () => {
          ended = true;
          subscriber.complete();
        },
      });
      // A heartbeat repeats the last id: bytes on the wire for proxies, no event for the browser.
      const heartbeat = options.heartbeatMs > 0 ? setInterval(() => subscriber.next(silentMessage(lastId)), options.heartbeatMs) : undefined;
      return () => {
        clearInterval(heartbeat);
        events.unsubscribe();
        this.open.delete(subscriber);
        this.follow(jobId, -1);
        if (!ended && !this.closing && options.cancelOnDisconnect) this.cancelUnlessBack(jobId, options.cancelOnDisconnect.graceMs);
      };
    });
  }

  private follow(jobId: string, delta: 1 | -1): void {
    const count = (this.following.get(jobId) ?? 0) + delta;
    if (count > 0) this.following.set(jobId, count);
    else this.following.delete(jobId);
  }

  /** Cancels the job after `graceMs` unless a stream of it is open again by then. */
  private cancelUnlessBack(jobId: string, graceMs: number): void {
    const cancel = () => void this.jobs.cancel(jobId, CLIENT_DISCONNECTED_REASON).catch(() => undefined);
    if (graceMs === 0) return cancel();
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      if (!this.following.has(jobId)) cancel();
    }, graceMs);
    this.graceTimers.add(timer);
  }
}

/**
 * A message with an id (and a reconnect delay) but no data: EventSource takes the id as its resume
 * point and dispatches nothing. Nest writes only the fields present; `data` is optional at run time
 * but typed as required in @nestjs/common 11.0, hence the assertion.
 */
function silentMessage(id: string, retry?: number): MessageEvent {
  return (retry === undefined ? { id } : { id, retry }) as MessageEvent;
}

function toMessage(event: JobEvent, named: boolean): MessageEvent {
  return named ? { id: event.id, type: event.type, data: event } : { id: event.id, data: event };
}
