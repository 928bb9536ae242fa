import { Inject, Injectable } from '@nestjs/common';
import { JobQueueConfigError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { Job, JobContext } from '../interfaces/job.interface';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../job-queue.options';

/** A handler found at boot, bound to its provider instance. */
export interface RegisteredJobHandler {
  name: string;
  concurrency: number;
  /** Enforced across processes by the backend's claim (see JobHandlerOptions). */
  rateLimit?: { max: number; perMs: number };
  globalConcurrency?: number;
  /** `Class.method`, for messages. */
  source: string;
  run(job: Job, ctx: JobContext): Promise<unknown>;
}

/**
 * Holds the handlers the explorer found; refuses two handlers for one name, and on a sharded Redis
 * queue a handler with cross-process limits whose name is not pinned (its jobs would be spread over
 * shards, each counting its own starts).
 */
@Injectable()
export class JobHandlerRegistry {
  private readonly handlers = new Map<string, RegisteredJobHandler>();

  constructor(@Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions) {}

  register(handler: RegisteredJobHandler): void {
    const existing = this.handlers.get(handler.name);
    if (existing)
      throw new JobQueueConfigError(Messages.duplicateHandler(handler.name, existing.source, handler.source));
    const { redis, shards } = this.options;
    const limited = handler.rateLimit !== undefined || handler.globalConcurrency !== undefined;
    if (limited && redis !== undefined && shards.count > 1 && !shards.pin.includes(handler.name)) {
      throw new JobQueueConfigError(Messages.limitedNameNotPinned(handler.name, handler.source));
    }
    this.handlers.set(handler.name, handler);
  }

  get(name: string): RegisteredJobHandler | undefined {
    return this.handlers.get(name);
  }

  all(): RegisteredJobHandler[] {
    return [...this.handlers.values()];
  }
}
