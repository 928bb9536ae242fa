/** setTimeout's largest delay; beyond it Node fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay setTimeout honours: never negative, never past its range (callers re-check and re-arm). */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}
