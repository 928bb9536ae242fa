import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How long a script call (an add, a claim, a cancel, an outcome write...) waits out a migration of its
 * slot before it fails: while a reshard moves the slot's keys from one master to the other, no script of
 * the queue can run (README "Resharding").
 */
export const MIGRATION_RETRY_MS = 3_000;
/** First pause between two tries; it doubles up to {@link MIGRATION_PAUSE_MAX_MS}. */
const MIGRATION_PAUSE_MS = 10;
export const MIGRATION_PAUSE_MAX_MS = 100;

/**
 * Replies that mean the slot is being migrated between two masters right now: its keys are split, so a
 * script that touches a key not (or no longer) on this master is refused ("non local key"), a command
 * declaring several keys of which some moved gets TRYAGAIN (ioredis retries those a few times, then
 * gives up with "Too many Cluster redirections"), and a blocking command on a missing key gets ASK.
 * ioredis may also give up on a MOVED, when the move ended while it was still chasing the slot.
 * Matched at the start of the raw reply, after ioredis' "Last error: ReplyError: ", or in the queue error
 * that carries it in parentheses (toQueueError), never inside a key name or other text.
 */
const SLOT_MIGRATING =
  /(?:^|[(]|ReplyError: )(?:ASK \d+ |TRYAGAIN\b)|Script attempted to access a non local key|redirections\. Last error: ReplyError: MOVED /;

export function isSlotMigrating(err: unknown): boolean {
  return err instanceof Error && SLOT_MIGRATING.test(err.message);
}

/**
 * Runs `call`, and again while it fails because the slot migrates, pausing 10 ms doubling to 100 ms,
 * until `budgetMs` has passed; then the last error is thrown. Only for calls that write nothing when
 * they fail so (a script refused before its first write, or at dispatch).
 */
export async function retryWhileMigrating<T>(call: () => Promise<T>, budgetMs = MIGRATION_RETRY_MS): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let pause = MIGRATION_PAUSE_MS; ; pause = Math.min(pause * 2, MIGRATION_PAUSE_MAX_MS)) {
    try {
      return await call();
    } catch (err) {
      if (!isSlotMigrating(err) || Date.now() + pause > deadline) throw err;
      await sleep(pause);
    }
  }
}
