import { SetMetadata } from '@nestjs/common';
import { validateJobName } from '../validation/job-input.validator';
import { validateHookEventType } from './queue-events.validator';

/** Metadata key set by {@link OnJobEvent}. */
export const JOB_EVENT_HOOK_METADATA = 'job-queue:event-hook';

/** Options of {@link OnJobEvent}. */
export interface OnJobEventOptions {
  /** Only events of jobs with these names (all names when omitted). */
  names?: string[];
}

/** What @OnJobEvent stores on the method (a method may carry several). */
export interface JobEventHookMetadata {
  type: string;
  names?: string[];
}

/**
 * Marks a provider method as a hook for events of `type` (a lifecycle type such as 'failed', or a
 * custom one). It is called as `(event: JobEvent, job: Job)`: once per event across all processes,
 * in the process where the event happened, with the job as it is after the event. A hook that
 * throws is logged; it never changes the job. Several `@OnJobEvent` on one method are allowed.
 */
export function OnJobEvent(type: string, options: OnJobEventOptions = {}): MethodDecorator {
  validateHookEventType(type);
  options.names?.forEach(validateJobName);
  const entry: JobEventHookMetadata = { type, ...(options.names && { names: [...options.names] }) };
  return (target, key, descriptor) => {
    const method = descriptor.value as object;
    const existing: JobEventHookMetadata[] = Reflect.getMetadata(JOB_EVENT_HOOK_METADATA, method) ?? [];
    SetMetadata(JOB_EVENT_HOOK_METADATA, [...existing, entry])(target, key, descriptor);
  };
}
