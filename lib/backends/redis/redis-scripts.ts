import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { JobQueueError, QueueFullError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import { describeError } from '../../utils/episode-logger';
import { LuaSources } from './lua-includes';
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

/** How long calls go by EVALSHA after a library load failed for a passing reason. */
export const LOAD_RETRY_MS = 5_000;

/** Roles that only read: registered `no-writes`, so FCALL runs them on a server out of memory too. */
const READ_ONLY: ReadonlySet<ScriptName> = new Set(['counts', 'list', 'pendingByName']);

interface LoadedScript {
  /** The ioredis command defined for EVALSHA. */
  command: string;
  /** Its name in the function library, for FCALL. */
  functionName: string;
  numberOfKeys: number;
  /** The script for EVALSHA, with what it uses of its includes inlined. */
  lua: string;
}

interface LoadedSources {
  scripts: Record<ScriptName, LoadedScript>;
  /** Every script as a function of one library (Redis 7+): FUNCTION LOAD's argument. */
  library: { name: string; code: string };
}

type ScriptArg = string | number;
type ScriptCommand = (...args: ScriptArg[]) => Promise<unknown>;

/** Sources are read once per process (module start), never on the hot path. */
let loaded: LoadedSources | undefined;

/**
 * The .lua files live next to this file: in the source tree, and in the build (`npm run build`
 * copies them; a plain `tsc` does not, hence the check).
 */
function scriptDir(): string {
  const dir = join(__dirname, 'scripts');
  if (!existsSync(join(dir, `${SCRIPT_FILES.add}.lua`))) throw new JobQueueError(Messages.scriptsMissing(dir));
  return dir;
}

/**
 * Reads every script and builds both forms (lua-includes.ts). Library and function names carry a
 * hash of the sources, so processes of two versions sharing a server never call each other's code.
 */
function loadSources(): LoadedSources {
  if (loaded) return loaded;
  const dir = scriptDir();
  const includes = new Map<string, string>();
  const sources = new LuaSources((name) => {
    if (!includes.has(name)) includes.set(name, readFileSync(join(dir, 'includes', `${name}.lua`), 'utf8'));
    return includes.get(name)!;
  });
  const files = Object.entries(SCRIPT_FILES).map(([role, file]) => ({
    role: role as ScriptName,
    file,
    source: readFileSync(join(dir, `${file}.lua`), 'utf8'),
  }));
  const scripts = {} as Record<ScriptName, LoadedScript>;
  for (const { role, file, source } of files) {
    const lua = sources.inlineIncludes(source);
    scripts[role] = { command: '', functionName: '', numberOfKeys: Number(file.slice(file.lastIndexOf('-') + 1)), lua };
  }
  // The tag hashes both forms as generated (flags and per-call resets included), then names them.
  const nameOf = (role: ScriptName, tag: string) => `jq${role[0].toUpperCase()}${role.slice(1)}_v${tag}`;
  const withTag = (tag: string) =>
    sources.functionLibrary(
      `jq_v${tag}`,
      files.map(({ role, source }) => ({
        name: nameOf(role, tag),
        source,
        flags: READ_ONLY.has(role) ? ['no-writes'] : undefined,
      })),
    );
  const hash = createHash('sha1').update(withTag(''));
  for (const { role } of files) hash.update(scripts[role].lua);
  const tag = `${SCRIPT_VERSION}_${hash.digest('hex').slice(0, 12)}`;
  for (const { role } of files) scripts[role].command = scripts[role].functionName = nameOf(role, tag);
  loaded = { scripts, library: { name: `jq_v${tag}`, code: withTag(tag) } };
  return loaded;
}

/** Every script as EVALSHA runs it (tests and benches read them). */
export function loadScripts(): Record<ScriptName, LoadedScript> {
  return loadSources().scripts;
}

/** The function library FUNCTION LOAD takes (tests read it). */
export function loadFunctionLibrary(): { name: string; code: string } {
  return loadSources().library;
}

/**
 * How one client calls the scripts; shared by every RedisScripts on it (the shards of a queue).
 *
 * On Redis 7 and later the scripts are one function library, loaded once per server (every master
 * of a Cluster) and called with FCALL: its helpers are defined at load, not on every call, which
 * saves some 30k instructions per call (bench/PROFILE.md). Until the library is loaded, and on a
 * server without functions (Redis 6, or an ACL without FUNCTION), calls use EVALSHA: both run the
 * same code. A server that lost the library (restarted without persistence, FUNCTION FLUSH, a
 * master added to the Cluster) answers "Function not found" without running anything: that call
 * goes by EVALSHA, and the library is loaded again. Functions replicate, so a promoted replica has them.
 */
class ScriptTransport {
  private readonly evalCommands: Record<ScriptName, ScriptCommand>;
  private readonly functionNames: Record<ScriptName, string>;
  private useFunctions = false;
  /** Functions are out of reach for good: an old server or a restricted user. */
  private unsupported = false;
  private loading?: Promise<void>;
  /** After a load that failed for a passing reason (a connection lost meanwhile): when to try again. */
  private loadRetryAt = Infinity;

  constructor(private readonly client: Redis | Cluster) {
    const scripts = loadScripts();
    const target = client as unknown as Record<string, ScriptCommand>;
    this.evalCommands = {} as Record<ScriptName, ScriptCommand>;
    this.functionNames = {} as Record<ScriptName, string>;
    for (const role of Object.keys(scripts) as ScriptName[]) {
      const { command, functionName, numberOfKeys, lua } = scripts[role];
      this.functionNames[role] = functionName;
      if (typeof target[command] !== 'function') client.defineCommand(command, { numberOfKeys: numberOfKeys + 1, lua });
      this.evalCommands[role] = target[command].bind(client);
    }
  }

  /** Loads the library where it is missing; resolves either way (calls then use EVALSHA). */
  load(): Promise<void> {
    if (this.unsupported || this.useFunctions) return Promise.resolve();
    this.loading ??= this.loadEverywhere().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** `keysAndArgs`: the call's keys (as many as its script declares), then its arguments. */
  async call(role: ScriptName, numberOfKeys: number, keysAndArgs: ScriptArg[]): Promise<unknown> {
    if (this.useFunctions) {
      try {
        return await this.client.fcall(this.functionNames[role], numberOfKeys, ...keysAndArgs);
      } catch (err) {
        // Refused before it ran: a server at maxmemory refuses a function that may write, where a
        // script only fails at its first write (so remove() and clean() can still free memory).
        if (isOutOfMemory(err)) return this.evalCommands[role](...keysAndArgs);
        if (!isFunctionMissing(err)) throw err;
        // Nothing ran. This call and those until the library is back go by EVALSHA.
        this.useFunctions = false;
        void this.load();
      }
    } else if (Date.now() >= this.loadRetryAt) {
      void this.load();
    }
    return this.evalCommands[role](...keysAndArgs);
  }

  private async loadEverywhere(): Promise<void> {
    this.loadRetryAt = Infinity;
    const { code } = loadFunctionLibrary();
    const servers = isCluster(this.client) ? this.client.nodes('master') : [this.client];
    try {
      await Promise.all(
        servers.map((server) =>
          server.call('FUNCTION', 'LOAD', code).catch((err: unknown) => {
            if (!/already exists/.test(describeError(err))) throw err;
          }),
        ),
      );
      this.useFunctions = servers.length > 0;
    } catch (err) {
      // Unknown command (Redis < 7) or NOPERM: EVALSHA for good. Anything else (a connection lost
      // meanwhile, a Cluster still settling): EVALSHA, and another try a little later.
      if (/unknown command|unknown subcommand|NOPERM/i.test(describeError(err))) this.unsupported = true;
      else this.loadRetryAt = Date.now() + LOAD_RETRY_MS;
    }
  }
}

const transports = new WeakMap<Redis | Cluster, ScriptTransport>();

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as Cluster).isCluster === true;
}

function isOutOfMemory(err: unknown): boolean {
  return /^OOM\b/.test(describeError(err));
}

function isFunctionMissing(err: unknown): boolean {
  return /Function not found/.test(describeError(err));
}

/**
 * The queue's scripts bound to one client (see ScriptTransport for FCALL and EVALSHA; ioredis'
 * `defineCommand` falls back to EVAL, loading the script, on NOSCRIPT, e.g. after a restart).
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
  private readonly transport: ScriptTransport;

  /** @param guardKey the migration guard: a key of the queue's slot that is never written */
  constructor(
    client: Redis | Cluster,
    private readonly guardKey: string,
  ) {
    let transport = transports.get(client);
    if (!transport) {
      transport = new ScriptTransport(client);
      transports.set(client, transport);
    }
    this.transport = transport;
  }

  /** Loads the function library (once per client); calls before it resolves use EVALSHA. */
  prepare(): Promise<void> {
    return this.transport.load();
  }

  /** Runs a script; script error codes come back as the library's typed errors. */
  async run(name: ScriptName, keys: string[], args: ScriptArg[]): Promise<unknown> {
    try {
      return await this.transport.call(name, keys.length + 1, [...keys, this.guardKey, ...args]);
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
  if (/user_script|user_function|Error running script/.test(message))
    return new JobQueueError(Messages.scriptFailed(message));
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
