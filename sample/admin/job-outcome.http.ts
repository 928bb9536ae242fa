import { ConflictException, HttpException, NotFoundException } from '@nestjs/common';
import type { RemoveResult, RetryResult } from '../../lib';

/** The outcomes of `retry()` and `remove()` that did nothing, with the HTTP error that says why. */
const REFUSALS: Record<string, (jobId: string) => HttpException> = {
  not_found: (jobId) =>
    new NotFoundException(`No job with id '${jobId}' (never added, removed, or expired after its retention).`),
  not_finished: (jobId) =>
    new ConflictException(
      `Job '${jobId}' has not finished (it is waiting, delayed or active): only completed, failed or cancelled jobs can be retried.`,
    ),
  active: (jobId) => new ConflictException(`Job '${jobId}' is running: cancel it first, then remove it.`),
};

/**
 * The HTTP answer of a `retry()` or `remove()` outcome: `{ result }` when it happened,
 * 404 for an unknown job, 409 for a job in a state that does not allow it.
 */
export function answerJobOutcome<R extends RetryResult | RemoveResult>(jobId: string, result: R): { result: R } {
  const refusal = REFUSALS[result];
  if (refusal) throw refusal(jobId);
  return { result };
}
