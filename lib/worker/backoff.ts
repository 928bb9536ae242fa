import type { BackoffOptions } from '../interfaces/job.interface';

/** Delay before the attempt after `attempt` (1-based) failed. */
export function retryDelayMs(backoff: BackoffOptions | undefined, attempt: number): number {
  if (!backoff) return 0;
  if (backoff.type === 'fixed') return backoff.delayMs;
  const delay = backoff.delayMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(delay, backoff.maxDelayMs ?? Number.MAX_SAFE_INTEGER);
}
