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
import { JobNotFoundError, JobQueueConfigError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { JobEvent } from '../interfaces/job.interface';
import { JOB_EVENTS_METADATA } from '../job-queue.constants';
import { JobQueueService } from '../job-queue.service';
import { CLIENT_DISCONNECTED_REASON } from './job-events.constants';
import { JobFollowActivity } from './job-follow-activity';
import type { ResolvedJobEventsOptions } from './job-events.options';
import { encodeCursor } from './job-events.cursor';
import { JobEventsRequest, assertJobExists, requestedJobIds, resumePoints } from './job-events.request';

/**
 * Resolves the job id (or, on a multiplexed route, the ids) the route method returns, then maps the
 * events to SSE messages with heartbeats; a multiplexed stream merges the jobs' streams and ends
 * when every job has ended (an unknown job counts as ended).
 * Unsubscribing (client gone) releases the backend subscription and, with `cancelOnDisconnect`,
 * cancels a job that has not ended unless a stream of it was open within the grace, on this
 * process or any other (see JobFollowActivity).
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
  /** Pending cancel-on-disconnect decisions. */
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private closing = false;

  constructor(
    private readonly reflector: Reflector,
    private readonly jobs: JobQueueService,
    private readonly activity: JobFollowActivity,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<MessageEvent>> {
    const options = this.reflector.get<ResolvedJobEventsOptions>(JOB_EVENTS_METADATA, context.getHandler());
    const request = context.switchToHttp().getRequest<JobEventsRequest>();
    const requested = requestedJobIds(request, options);
    const returned: unknown = await lastValueFrom(next.handle());
    const jobIds = await this.checkReturned(returned, requested, options);
    return this.stream(jobIds, resumePoints(request, options, jobIds.length), options);
  }

  /**
   * The job ids to stream. Single-job route: the returned id; the guard checked it if it is the
   * `idParam` parameter, any other id is checked here, after the 200 headers may be out (unknown,
   * it ends the stream with an SSE `error` event instead of a 404). Multiplexed route: the method
   * must return the ids of the query (in any order): the guard checked those, and the cursor holds
   * one position per id of the query.
   * @throws JobQueueConfigError when a multiplexed route's method returns other ids
   */
  private async checkReturned(
    returned: unknown,
    requested: string[] | undefined,
    options: ResolvedJobEventsOptions,
  ): Promise<string[]> {
    if (options.idsQuery !== undefined) {
      const ids = requested!; // the guard answered 400 without them
      const same =
        Array.isArray(returned) && returned.length === ids.length && ids.every((id) => returned.includes(id));
      if (!same) throw new JobQueueConfigError(Messages.multiplexedIdsMismatch(options.idsQuery));
      return ids;
    }
    if (requested && returned === requested[0]) return requested;
    return [await assertJobExists(this.jobs, returned)];
  }

  /**
   * Ends every open stream as soon as shutdown begins, and forgets
   * pending cancel-on-disconnect decisions: the watchdog's client timeout covers a client that never
   * comes back. Nest runs this hook module by module and global modules last, so with the default
   * global JobQueueModule it runs before the worker's drain (with `isGlobal: false`, possibly after it,
   * which still lets the HTTP server close before the process exits). @internal
   */
  beforeApplicationShutdown(): void {
    this.closing = true;
    for (const subscriber of [...this.open]) subscriber.complete();
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
  }

  private stream(
    jobIds: string[],
    after: string[] | undefined,
    options: ResolvedJobEventsOptions,
  ): Observable<MessageEvent> {
    const multiplexed = options.idsQuery !== undefined;
    return new Observable<MessageEvent>((subscriber) => {
      const lastIds = jobIds.map((_, i) => after?.[i] ?? '0');
      const cursor = () => (multiplexed ? encodeCursor(lastIds) : lastIds[0]);
      // The first message sends the headers at once on every Nest version and sets the browser's
      // resume point (and reconnect delay); it has no data, so EventSource dispatches nothing.
      subscriber.next(silentMessage(cursor(), options.retryMs));
      if (this.closing || this.jobs.isShuttingDown) return subscriber.complete();

      const ended = jobIds.map(() => false);
      const end = (i: number) => {
        ended[i] = true;
        if (ended.every(Boolean)) subscriber.complete();
      };
      let failed = false;
      this.open.add(subscriber);
      const grace = options.cancelOnDisconnect ? options.cancelOnDisconnect.graceMs : 0;
      const unfollow = grace > 0 ? this.activity.follow(jobIds, grace) : undefined;
      const subscriptions = jobIds.map((jobId, i) =>
        this.jobs.events(jobId, { after: after?.[i] }).subscribe({
          next: (event) => {
            lastIds[i] = event.id;
            subscriber.next(toMessage(event, cursor(), options.namedEvents));
          },
          error: (err) => {
            // On a stream of many, a job that is unknown (or removed meanwhile) has ended.
            if (multiplexed && err instanceof JobNotFoundError) return end(i);
            failed = true; // the stream failed; the client did not leave
            subscriber.error(err);
          },
          complete: () => end(i),
        }),
      );
      // A heartbeat repeats the cursor: bytes on the wire for proxies, no event for the browser.
      const heartbeat =
        options.heartbeatMs > 0
          ? setInterval(() => subscriber.next(silentMessage(cursor())), options.heartbeatMs)
          : undefined;
      return () => {
        clearInterval(heartbeat);
        for (const subscription of subscriptions) subscription.unsubscribe();
        this.open.delete(subscriber);
        unfollow?.();
        if (failed || this.closing || !options.cancelOnDisconnect) return;
        const disconnectedAt = Date.now();
        jobIds.forEach((jobId, i) => {
          if (!ended[i]) this.cancelUnlessBack(jobId, grace, disconnectedAt);
        });
      };
    });
  }

  /**
   * Cancels the job after `graceMs` unless a stream of it was open after the disconnect, on any
   * process, by then. When that cannot be read (store unreachable), the job is left running: the
   * watchdog's client timeout covers `watchClient` jobs.
   */
  private cancelUnlessBack(jobId: string, graceMs: number, disconnectedAt: number): void {
    const cancel = () => void this.jobs.cancel(jobId, CLIENT_DISCONNECTED_REASON).catch(() => undefined);
    if (graceMs === 0) return cancel();
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      this.activity.followedSince(jobId, disconnectedAt).then(
        (back) => back || cancel(),
        () => undefined,
      );
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

/** One event as a message whose id is the stream's cursor (the event id, on a single-job stream). */
function toMessage(event: JobEvent, id: string, named: boolean): MessageEvent {
  return named ? { id, type: event.type, data: event } : { id, data: event };
}
