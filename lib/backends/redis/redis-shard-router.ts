import { scheduleIdOfJob } from '../../schedules/schedule-job-id';
import { hashSlot } from './redis-keys';

/** Redis Cluster's number of hash slots. */
const SLOTS = 16_384;
/** The shard of pinned names, and the one a lookup tries second when names are pinned. */
export const PIN_SHARD = 0;

/**
 * Where each job of a sharded queue lives (option `shards`): which of the queue's N hash tags.
 *
 * - A job lives on the shard of its id: a stable hash of the id mod N, so get, cancel, events,
 *   retry and remove find it without a lookup, whoever generated the id. A schedule's tick job
 *   (`sched:<id>:<tick>`) hashes by the schedule id: the schedule's shard, where the fire script
 *   creates it atomically.
 * - Pinned names (`shards.pin`) live on shard {@link PIN_SHARD} whatever the id, so their rate
 *   limits and global concurrency are counted in one place. A lookup by id that misses on the id's
 *   shard tries that shard too (only when names are pinned).
 *
 * With N = 1 every job is on the one shard, whose tag is `{prefix}`: the layout of an unsharded queue.
 */
export class RedisShardRouter {
  readonly count: number;
  /**
   * Per shard, the prefix its keys are built from (its hash tag is `{<prefix>}`): `prefix` alone for
   * N = 1; otherwise `prefix#<shard>[.<k>]`, the first candidate whose slot lies in the middle of the
   * shard's N-th of the slot space, so on a cluster sliced evenly among M masters (as
   * `redis-cli --cluster create` does) N = M shards land one per master. `#` cannot occur in a
   * prefix, so no other queue's tag collides.
   */
  readonly prefixes: readonly string[];
  private readonly pinned: ReadonlySet<string>;

  constructor(prefix: string, shards: { count: number; pin: readonly string[] }) {
    this.count = shards.count;
    this.pinned = new Set(shards.pin);
    this.prefixes =
      shards.count === 1
        ? [prefix]
        : Array.from({ length: shards.count }, (_, s) => shardPrefix(prefix, s, shards.count));
  }

  isPinned(name: string): boolean {
    return this.pinned.has(name);
  }

  /** The shard a new job of `name` with this id is added to. */
  shardOfJob(id: string, name: string): number {
    return this.isPinned(name) ? PIN_SHARD : this.shardOfId(id);
  }

  /** Shards that may hold the job with this id, the likeliest first (one unless names are pinned). */
  candidates(id: string): number[] {
    const home = this.shardOfId(id);
    return this.pinned.size > 0 && home !== PIN_SHARD ? [home, PIN_SHARD] : [home];
  }

  /** The shard a schedule is stored on: its jobs are created there, atomically with the tick. */
  shardOfSchedule(scheduleId: string, name: string): number {
    return this.isPinned(name) ? PIN_SHARD : this.hash(scheduleId);
  }

  /** Shards that may hold the schedule with this id, the likeliest first. */
  scheduleCandidates(scheduleId: string): number[] {
    const home = this.hash(scheduleId);
    return this.pinned.size > 0 && home !== PIN_SHARD ? [home, PIN_SHARD] : [home];
  }

  /** The names among `names` whose jobs may be on `shard`. */
  namesOn<T extends { name: string }>(shard: number, items: readonly T[]): T[] {
    if (this.pinned.size === 0 || shard === PIN_SHARD) return [...items];
    return items.filter((item) => !this.pinned.has(item.name));
  }

  private shardOfId(id: string): number {
    return this.hash(scheduleIdOfJob(id) ?? id);
  }

  /** FNV-1a (32 bit) of the UTF-16 code units, mod N: stable across processes and versions. */
  private hash(text: string): number {
    if (this.count === 1) return 0;
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return (h >>> 0) % this.count;
  }
}

/** See {@link RedisShardRouter.prefixes}. */
function shardPrefix(prefix: string, shard: number, count: number): string {
  const width = SLOTS / count;
  const low = shard * width + width / 4;
  const high = (shard + 1) * width - width / 4;
  for (let k = 0; ; k++) {
    const candidate = k === 0 ? `${prefix}#${shard}` : `${prefix}#${shard}.${k}`;
    const slot = hashSlot(`{${candidate}}`);
    if (slot >= low && slot < high) return candidate;
  }
}
