/**
 * The resume point of a stream of many jobs: the last event id of each job, in the order of the
 * route's job ids, joined by '_' (event ids are `<ms>-<seq>` or '0', so '_' never occurs in them).
 */
const SEPARATOR = '_';

/** The most job ids one multiplexed stream accepts. */
export const MAX_MULTIPLEXED_JOBS = 100;

export function encodeCursor(lastIds: readonly string[]): string {
  return lastIds.join(SEPARATOR);
}

/** The per-job event ids of a cursor; undefined when it does not hold exactly `count` parts. */
export function decodeCursor(cursor: string, count: number): string[] | undefined {
  const parts = cursor.split(SEPARATOR);
  return parts.length === count ? parts : undefined;
}
