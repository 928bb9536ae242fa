import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * 204 No Content for a resume at or past the job's terminal event: the one status that makes a
 * browser's EventSource stop reconnecting. Thrown by the guard, before any stream opens.
 */
export class JobStreamEndedException extends HttpException {
  constructor() {
    super('', HttpStatus.NO_CONTENT);
  }
}
