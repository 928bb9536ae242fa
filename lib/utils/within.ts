import { timerDelay } from './timer-delay';

/** What {@link within} resolves with when the time ran out first. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * The value of `promise`, or TIMED_OUT if it has not settled within `ms` (its rejection passes
 * through). The timer never outlives the wait; the promise itself is not cancelled.
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>(
    (resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), timerDelay(ms))),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
