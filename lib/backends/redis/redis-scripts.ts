import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { JobQueueError, QueueFullError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import { isSlotMigrating } from './redis-slot-migration';

/**
 * Bumped whenever a script's KEYS/ARGV/return contract changes. Part of every command name, so two
 * versions of this library sharing one ioredis client never call each other's scripts.
 */
export const SCRIPT_VERSION = 7;

/** Script files by role. The number in the file name is its KEYS count (BullMQ convention). */
const SCRIPT_FILES = {
  add: 'add-6',
  claim: 'claim-1',
  heartbeat: 'heartbeat-1',
  complete: 'complete-1',
  completeClaim: 'complete-claim-1',
  fail: 'fail-2',
  finishCancelled: 'finish-cancelled-2',
  release: 'release-2',
  progress: 'progress-2',
  emit: 'emit-2',
  cancel: 'cancel-2',
  touch: 'touch-2',
  reclaimExpired: 'reclaim-expired-1',
  counts: 'counts-5',
  fireSchedule: 'fire-schedule-3',
  list: 'list-1',
  retry: 'retry-2',
  remove: 'remove-2',
  clean: 'clean-1',
  resume: 'resume-1',
  // --- events: history, follow activity ---
  readEvents: 'read-events-2',
  follow: 'follow-1',
  pendingByName: 'pending-by-name-1',
} as const;

export type ScriptName = keyof typeof SCRIPT_FILES;

interface LoadedScript {
  command: string;
  numberOfKeys: number;
  lua: string;
}

type ScriptArg = string | number;
type ScriptCommand = (...args: ScriptArg[]) => Promise<unknown>;

const INCLUDE = /^--\s*@include\s+([\w-]+)\s*$/gm;

/** Sources are read once per process (module start), never on the hot path. */
let loaded: Record<ScriptName, LoadedScript> | undefined;

/**
 * The .lua files live next to this file: in the source tree, and in the build (`npm run build`
 * copies them; a plain `tsc` does not, hence the check).
 */
function scriptDir(): string {
  const dir = join(__dirname, 'scripts');
  if (!existsSync(join(dir, `${SCRIPT_FILES.add}.lua`))) throw new JobQueueError(Messages.scriptsMissing(dir));
  return dir;
}

/** Reads every script and inlines its `-- @include <name>` lines from `scripts/includes/`. */
export function loadScripts(): Record<ScriptName, LoadedScript> {
  if (loaded) return loaded;
  const dir = scriptDir();
  const includes = new Map<string, string>();
  const include = (name: string): string => {
    let source = includes.get(name);
    if (source === undefined) {
      source = readFileSync(join(dir, 'includes', `${name}.lua`), 'utf8');
      includes.set(name, source);
    }
    return source;
  };
  const result = {} as Record<ScriptName, LoadedScript>;
  for (const [role, file] of Object.entries(SCRIPT_FILES) as Array<[ScriptName, string]>) {
    const source = readFileSync(join(dir, `${file}.lua`), 'utf8');
    result[role] = {
      command: `jq${role[0].toUpperCase()}${role.slice(1)}_v${SCRIPT_VERSION}`,
      numberOfKeys: Number(file.slice(file.lastIndexOf('-') + 1)),
      lua: source.replace(INCLUDE, (_line, name: string) => include(name)),
    };
  }
  loaded = result;
  return result;
}

/**
 * The queue's scripts bound to one client. `defineCommand` makes ioredis use EVALSHA and fall
 * back to EVAL (loading the script) on NOSCRIPT, e.g. after a server restart.
 *
 * Every call declares one more key after the script's own: the queue's migration guard, a key of its
 * slot that never exists (no script reads it). While a reshard migrates the slot, Redis Cluster refuses
 * a call declaring several keys of which some are missing (TRYAGAIN), on the old master and on the new
 * one alike, so no script ever runs while the slot's keys are split between two masters: without it, a
 * call whose declared keys had all moved already would be redirected (ASK) and run on the new master,
 * where the keys it builds from the prefix (a job record, a waiting list) may not have arrived yet.
 * ioredis retries TRYAGAIN a few times; adds and claims then wait the migration out (redis-slot-migration.ts).
 */
export class RedisScripts {
  private readonly commands: Record<ScriptName, ScriptCommand>;

  /** @param guardKey the migration guard: a key of the queue's slot that is never written */
  constructor(
    client: Redis | Cluster,
    private readonly guardKey: string,
  ) {
    const scripts = loadScripts();
    const target = client as unknown as Record<string, ScriptCommand>;
    this.commands = {} as Record<ScriptName, ScriptCommand>;
    for (const role of Object.keys(scripts) as ScriptName[]) {
      const { command, numberOfKeys, lua } = scripts[role];
      if (typeof target[command] !== 'function') client.defineCommand(command, { numberOfKeys: numberOfKeys + 1, lua });
      this.commands[role] = target[command].bind(client);
    }
  }

  /** Runs a script; script error codes come back as the library's typed errors. */
  async run(name: ScriptName, keys: string[], args: ScriptArg[]): Promise<unknown> {
    try {
      return await this.commands[name](...keys, this.guardKey, ...args);
    } catch (err) {
      throw toQueueError(err);
    }
  }
}

/**
 * The one place where Redis replies become typed errors. Scripts raise
 * `redis.error_reply('JQ_<CODE> <detail>')`; a key of the wrong type (WRONGTYPE) and a Lua error
 * inside a script (a damaged record) become JobQueueErrors too; anything else (connection loss)
 * passes through unchanged.
 */
export function toQueueError(err: unknown): unknown {
  const message = err instanceof Error ? err.message.split('\n')[0] : '';
  if (isSlotMigrating(err)) return new JobQueueError(Messages.slotMigrating(message));
  if (message.includes('WRONGTYPE')) return new JobQueueError(Messages.wrongKeyType(message));
  if (/user_script|Error running script/.test(message)) return new JobQueueError(Messages.scriptFailed(message));
  const match = /^(?:ERR )?JQ_([A-Z_]+)(?: (.*))?$/.exec(message);
  if (!match) return err;
  const [, code, detail] = match;
  switch (code) {
    case 'QUEUE_FULL':
      return new QueueFullError(Messages.queueFull(Number(detail)));
    default:
      return new JobQueueError(`Redis script error ${code}${detail ? `: ${detail}` : ''}.`);
  }
}

/** For `.catch()` on plain commands: rethrows a Redis reply as {@link toQueueError} maps it. */
export function rethrowAsQueueError(err: unknown): never {
  throw toQueueError(err);
}
