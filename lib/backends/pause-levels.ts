/**
 * Pause state is a set of levels: the whole queue ({@link QUEUE_LEVEL}) and single job names. A
 * name runs only when neither the queue nor the name is paused.
 */

/** The level that stands for the whole queue (no job name is empty). */
export const QUEUE_LEVEL = '';

/** What is paused, as `metrics().paused` and the health details show it. */
export interface PausedState {
  /** `pause()` without a name is in effect: no name runs. */
  queue: boolean;
  /** Names paused on their own, sorted. */
  names: string[];
}

export function describePaused(levels: readonly string[]): PausedState {
  return { queue: levels.includes(QUEUE_LEVEL), names: levels.filter((level) => level !== QUEUE_LEVEL).sort() };
}
