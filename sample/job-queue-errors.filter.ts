import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { InvalidJobError, JobNotFoundError, JobQueueError, QueueDrainedError, QueueFullError } from '../lib';

/** The library's errors that are the client's business, with the HTTP answer each one gets. */
const STATUS = new Map<Function, { status: HttpStatus; error: string; retryAfterS?: number }>([
  [InvalidJobError, { status: HttpStatus.BAD_REQUEST, error: 'Bad Request' }],
  [JobNotFoundError, { status: HttpStatus.NOT_FOUND, error: 'Not Found' }],
  [QueueFullError, { status: HttpStatus.TOO_MANY_REQUESTS, error: 'Too Many Requests', retryAfterS: 1 }],
  [QueueDrainedError, { status: HttpStatus.SERVICE_UNAVAILABLE, error: 'Service Unavailable', retryAfterS: 1 }],
]);

/**
 * One filter for every route (registered as APP_FILTER): maps the job queue's typed errors to HTTP.
 * InvalidJobError → 400, JobNotFoundError → 404, QueueFullError → 429, QueueDrainedError → 503
 * (both with Retry-After). The library's messages say what was wrong, so they are passed on.
 * Any other error is not caught here and gets Nest's default handling (500).
 */
@Catch(InvalidJobError, JobNotFoundError, QueueFullError, QueueDrainedError)
export class JobQueueErrorsFilter implements ExceptionFilter<JobQueueError> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(err: JobQueueError, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const response = host.switchToHttp().getResponse();
    const { status, error, retryAfterS } = STATUS.get(err.constructor) ?? statusOfSubclass(err);
    if (retryAfterS !== undefined) httpAdapter.setHeader(response, 'Retry-After', String(retryAfterS));
    httpAdapter.reply(response, { statusCode: status, error, message: err.message }, status);
  }
}

/** A subclass of one of the caught errors answers like its parent. */
function statusOfSubclass(err: JobQueueError) {
  for (const [type, answer] of STATUS) if (err instanceof type) return answer;
  return { status: HttpStatus.INTERNAL_SERVER_ERROR, error: 'Internal Server Error' };
}
