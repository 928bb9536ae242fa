import { Observable, Subscriber } from 'rxjs';
import type { QueueBackend } from '../backends/queue-backend.interface';
import { JobNotFoundError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import { JobEvent, TERMINAL_EVENT_TYPES, TERMINAL_STATES } from '../interfaces/job.interface';
import type { ResolvedJobQueueOptions } from '../job-queue.options';

/**
 * Builds the per-job event Observables: history after `after`, then live, completing after the
 * terminal event. An open stream of a `watchClient` job counts as client activity, so it keeps the
 * job alive even when no events flow: one timer for the whole process touches every such job
 * (however many streams are open), and jobs nobody watches cost nothing. Tracks open streams so
 * shutdown ends them.
 */
export class JobEventStream {
  private readonly open$ = new Set<Subscriber<JobEvent>>();
  /** Open streams per watched job id. */
  private readonly watched = new Map<string, number>();
  private touchTimer?: NodeJS.Timeout;

  constructor(
    private readonly backend: QueueBackend,
    private readonly options: ResolvedJobQueueOptions,
  ) {}

  open(jobId: string, after: string, { touch = true }: { touch?: boolean } = {}): Observable<JobEvent> {
    return new Observable<JobEvent>((subscriber) => {
      let unsubscribe: (() => void) | undefined;
      let watching = false;
      let closed = false;
      this.open$.add(subscriber);

      // touch() doubles as the existence check: one round trip instead of two.
      const found = touch
        ? this.backend.touch(jobId)
        : this.backend.get(jobId).then((job) => (job ? 'unwatched' : 'missing'));
      Promise.all([found, this.endedBefore(jobId, after)]).then(
        ([status, endedBefore]) => {
          if (closed) return;
          if (status === 'missing') return subscriber.error(new JobNotFoundError(Messages.notFound(jobId), jobId));
          if (endedBefore) return subscriber.complete();
          if (status === 'watched') {
            watching = true;
            this.watch(jobId, +1);
          }
          unsubscribe = this.backend.subscribe(jobId, after, {
            next: (events) => {
              for (const [i, event] of events.entries()) {
                if (subscriber.closed) return;
                subscriber.next(event);
                // Events after a terminal one in the same delivery: the job was retried, its stream
                // goes on. A terminal event that ends a delivery was the job's last event when read.
                if (TERMINAL_EVENT_TYPES.has(event.type) && i === events.length - 1) return subscriber.complete();
              }
            },
            error: (err) => subscriber.error(err),
          });
        },
        (err: unknown) => subscriber.error(err),
      );

      return () => {
        closed = true;
        this.open$.delete(subscriber);
        if (watching) this.watch(jobId, -1);
        unsubscribe?.();
      };
    });
  }

  /**
   * True when a resume point is at or past the job's terminal event: nothing will ever follow, so
   * the stream completes at once (an EventSource reconnects with the terminal event's id after every
   * finished stream). Fresh streams (`after` = '0') always contain the terminal event, so they skip this.
   */
  private async endedBefore(jobId: string, after: string): Promise<boolean> {
    if (after === '0') return false;
    const [job, next] = await Promise.all([this.backend.get(jobId), this.backend.readEvents(jobId, after, 1)]);
    return !!job && TERMINAL_STATES.has(job.state) && next !== null && next.length === 0;
  }

  /** Completes every open stream (application shutdown). */
  closeAll(): void {
    for (const subscriber of [...this.open$]) subscriber.complete();
    clearInterval(this.touchTimer);
    this.touchTimer = undefined;
  }

  private watch(jobId: string, delta: 1 | -1): void {
    const count = (this.watched.get(jobId) ?? 0) + delta;
    if (count > 0) this.watched.set(jobId, count);
    else this.watched.delete(jobId);
    const timeout = this.options.watchdog.clientTimeoutMs;
    if (this.watched.size > 0 && !this.touchTimer && timeout > 0) {
      this.touchTimer = setInterval(() => this.touchWatched(), Math.max(100, Math.floor(timeout / 3)));
      this.touchTimer.unref();
    } else if (this.watched.size === 0 && this.touchTimer) {
      clearInterval(this.touchTimer);
      this.touchTimer = undefined;
    }
  }

  private touchWatched(): void {
    for (const jobId of this.watched.keys()) void this.backend.touch(jobId).catch(() => undefined);
  }
}
