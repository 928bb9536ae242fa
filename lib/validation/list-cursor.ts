import { InvalidJobError } from '../errors/job-queue.errors';
import { Messages } from '../errors/job-queue.messages';
import type { ListPosition } from '../backends/queue-backend.interface';
import type { JobState } from '../interfaces/job.interface';

/** Bumped if the cursor layout changes, so an old cursor is refused instead of misread. */
const CURSOR_VERSION = 1;
const SCORE = /^-?\d{1,16}$/;
/** A queue position and a job id (220), and room for a shard in front (see redis-shard-list.ts). */
const MEMBER = /^[A-Za-z0-9._:-]{1,224}$/;

/**
 * The opaque `cursor` of `list()`: the position of a page's last entry, tied to the list it came
 * from (state and name), as base64url JSON. Both backends use the same (score, member) positions.
 */
export function encodeListCursor(state: JobState, name: string | undefined, position: ListPosition): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, state, name ?? '', position.score, position.member])).toString(
    'base64url',
  );
}

/** The position a cursor stands for. @throws InvalidJobError when it is malformed or from another list */
export function decodeListCursor(cursor: unknown, state: JobState, name: string | undefined): ListPosition {
  let parts: unknown;
  try {
    if (typeof cursor !== 'string' || cursor.length > 1_000) throw new Error('not a cursor');
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidJobError(Messages.invalidCursor(cursor));
  }
  if (
    !Array.isArray(parts) ||
    parts.length !== 5 ||
    parts[0] !== CURSOR_VERSION ||
    parts[1] !== state ||
    parts[2] !== (name ?? '') ||
    typeof parts[3] !== 'string' ||
    !SCORE.test(parts[3]) ||
    typeof parts[4] !== 'string' ||
    !MEMBER.test(parts[4])
  ) {
    throw new InvalidJobError(Messages.invalidCursor(cursor));
  }
  return { score: parts[3], member: parts[4] };
}
