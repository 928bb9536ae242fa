import { Inject, Injectable, Logger } from '@nestjs/common';
import type { QueueBackend } from '../backends/queue-backend.interface';
import { Messages } from '../errors/job-queue.messages';
import type { Job, JobEvent } from '../interfaces/job.interface';
import { JOB_QUEUE_BACKEND } from '../job-queue.constants';
import { describeError } from '../utils/episode-logger';
import { TIMED_OUT, within } from '../utils/within';

/** A hook found at boot, bound to its provider instance. */
export interface RegisteredJobEventHook {
  type: string;
  names?: ReadonlySet<string>;
  /** `Class.method`, for messages. */
  source: string;
  call(event: JobEvent, job: Job): Promise<unknown>;
}

/** How far back the job's stream is searched for the event (it is normally the newest). */
const RECENT_EVENTS = 32;

/**
 * Runs the `@OnJobEvent` hooks of this process. The code that performed a transition (service,
 * worker, dispatcher, watchdog) calls {@link notify} with what it wrote; since each transition is
 * performed by exactly one process, each hook runs once per event across all processes, and
 * no pub/sub delivery (which drops messages on a reconnect) is involved.
 *
 * `notify` is a synchronous map lookup: with no hook for the type, it costs nothing. With one, the
 * job and its newest events are read once per event (the event's id and data come from the
 * stream, so the hook gets the event as subscribers see it; an event that was not written,
 * e.g. a fenced emit of a lost lease, runs no hook).
 */
@Injectable()
export class JobEventHooks {
  private readonly logger = new Logger('JobEventHooks');
  private readonly byType = new Map<string, RegisteredJobEventHook[]>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(@Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend) {}

  register(hook: RegisteredJobEventHook): void {
    const hooks = this.byType.get(hook.type) ?? [];
    this.byType.set(hook.type, [...hooks, hook]);
  }

  /** Whether a hook for `type` is registered (lets callers skip work for nobody). */
  has(type: string): boolean {
    return this.byType.has(type);
  }

  /** An event of `type` was just written for job `jobId` (name, when known, saves a read for filtered-out names). */
  notify(jobId: string, type: string, name?: string): void {
    const hooks = this.byType.get(type);
    if (!hooks) return;
    const run = this.run(jobId, type, name, hooks).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  /**
   * Resolves once the hooks running now have settled, or after `maxWaitMs` (on shutdown, before
   * the store closes: a hook that never settles must not hold the process).
   */
  async settled(maxWaitMs: number): Promise<void> {
    const deadline = Date.now() + maxWaitMs;
    // Hooks may start hooks (a 'completed' hook that adds a job): wait for those too.
    while (this.inFlight.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0 || (await within(Promise.allSettled([...this.inFlight]), left)) === TIMED_OUT) return;
    }
  }

  private async run(
    jobId: string,
    type: string,
    name: string | undefined,
    hooks: RegisteredJobEventHook[],
  ): Promise<void> {
    const wanted = (jobName: string) => hooks.filter((hook) => !hook.names || hook.names.has(jobName));
    if (name !== undefined && wanted(name).length === 0) return;
    let job: Job | null;
    let event: JobEvent | undefined;
    try {
      const [found, recent] = await Promise.all([
        this.backend.get(jobId),
        this.backend.recentEvents(jobId, RECENT_EVENTS),
      ]);
      job = found;
      event = recent.find((e) => e.type === type);
    } catch (err) {
      this.logger.error(`Could not read job '${jobId}' for its '${type}' hooks: ${describeError(err)}`);
      return;
    }
    if (!job || !event) return;
    await Promise.all(
      wanted(job.name).map(async (hook) => {
        try {
          // Each hook gets its own copy: one hook cannot change what the next one sees.
          await hook.call(structuredClone(event), structuredClone(job));
        } catch (err) {
          this.logger.error(Messages.hookFailed(hook.source, type, jobId, describeError(err)));
        }
      }),
    );
  }
}
