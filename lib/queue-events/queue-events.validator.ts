import { InvalidJobError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import { LIFECYCLE_EVENT_TYPES } from '../interfaces/job.interface';
import { validateCustomEventType, validateJobName } from '../validation/job-input.validator';
import type { QueueEventsFilter } from './queue-job-event';

const LIFECYCLE: ReadonlySet<string> = new Set(LIFECYCLE_EVENT_TYPES);

/** A lifecycle event type, or a valid custom one. @throws InvalidJobError */
export function validateHookEventType(type: unknown): asserts type is string {
  if (typeof type === 'string' && LIFECYCLE.has(type)) return;
  try {
    validateCustomEventType(type);
  } catch {
    throw new InvalidJobError(Messages.invalidHookEventType(type));
  }
}

/** The filter of `queueEvents()`: arrays of valid types and names. @throws InvalidJobError */
export function validateQueueEventsFilter(filter: QueueEventsFilter): void {
  if (typeof filter !== 'object' || filter === null) {
    throw new InvalidJobError(Messages.invalidOption('filter', 'an object { types?, names? }', filter));
  }
  for (const key of ['types', 'names'] as const) {
    const value = filter[key];
    if (value !== undefined && !Array.isArray(value)) {
      throw new InvalidJobError(Messages.invalidOption(key, 'an array of strings', value));
    }
  }
  filter.types?.forEach(validateHookEventType);
  filter.names?.forEach(validateJobName);
}
