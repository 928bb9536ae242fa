import { JobQueueConfigError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import { MAX_TIMER_MS } from '../utils/timer-delay';

/**
 * The one integer-range check behind the module's options (`requireInteger`) and the job inputs
 * (`requireInt` in job-input.validator), which differ only in the error they throw.
 * @returns the rule `value` breaks, for the message, or undefined when it is an integer in range
 */
export function integerRuleBroken(value: unknown, min: number, max: number, hint?: string): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return undefined;
  return `an integer from ${min} to ${max}${hint ? ` (${hint})` : ''}`;
}

/**
 * Checks an integer option of the module or of a decorator. The default upper bound keeps
 * durations within setTimeout's range (~24.8 days), since they drive timers.
 * @param hint what special values mean, e.g. '0 disables'; shown in the message
 * @throws JobQueueConfigError naming the option, the allowed range and the value given
 */
export function requireInteger(option: string, value: unknown, min: number, max = MAX_TIMER_MS, hint?: string): void {
  const rule = integerRuleBroken(value, min, max, hint);
  if (rule) throw new JobQueueConfigError(Messages.invalidOption(option, rule, value));
}
