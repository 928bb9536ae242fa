/**
 * Key names of one queue in Redis.
 *
 * Every key starts with the same hash tag `{<prefix>}`, so all keys of a queue live in one hash
 * slot: each Lua script touches a single slot and the layout works unchanged on Redis Cluster.
 *
 * | key                          | type   | content                                                      |
 * | ---------------------------- | ------ | ------------------------------------------------------------ |
 * | `{jq}:job:<id>`              | hash   | the job record (see redis-job-record.ts)                     |
 * | `{jq}:events:<id>`           | stream | the job's events, fields `t` (type) and `d` (data JSON)      |
 * | `{jq}:evc:<id>`              | pub/sub channel | each event as appended: `<event id> <type>[ <data JSON>]` |
 * | `{jq}:waiting:<name>`        | zset   | claimable jobs, score = -priority, member = queue position + id |
 * | `{jq}:delayed:<name>`        | zset   | delayed jobs, score = due time (epoch ms)                    |
 * | `{jq}:wake:<name>`           | list   | wake markers for blocked workers (bounded; deleted with the name) |
 * | `{jq}:active`                | zset   | active jobs, score = lease expiry (epoch ms)                 |
 * | `{jq}:clients`               | zset   | unfinished watchClient jobs, score = last client activity    |
 * | `{jq}:names`                 | set    | names with waiting/delayed jobs (for counts / maxWaiting); a name leaves it, and its wake list is deleted, once both its zsets are empty |
 * | `{jq}:completed` / `failed` / `cancelled` | zset | finished jobs, score = finishedAt, trimmed by retention |
 * | `{jq}:seq`                   | string | FIFO counter                                                 |
 * | `{jq}:paused`                | set    | paused levels: '' (the whole queue) and job names; read by the claim script |
 * | `{jq}:running:<name>`        | set    | jobs of a name with a globalConcurrency limit that are active (claim adds, every exit removes) |
 * | `{jq}:rl:<name>`             | zset   | start times within a name's rate-limit window, member = claim token; expires a minute after its newest window |
 * | `{jq}:cancel`                | pub/sub channel | cancel announcements                               |
 * | `{jq}:migration-guard`       | (none)  | never written: declared by every script call (see RedisScripts) |
 *
 * The stream is the source of truth (history, resuming with `after`, catching up after a
 * reconnect); the event channel only carries the same events live, published by the script that
 * appends them (addEvent in scripts/includes/common.lua), so a subscriber needs no read per event.
 */
export class RedisKeys {
  /** `<ioredis keyPrefix>{<prefix>}:`, passed to every script as ARGV[1]. */
  readonly base: string;
  readonly active: string;
  readonly clients: string;
  readonly names: string;
  readonly seq: string;
  readonly completed: string;
  readonly failed: string;
  readonly cancelled: string;
  readonly cancelChannel: string;
  readonly paused: string;
  /** Declared by every script call, never written: keeps scripts from running while the slot migrates (RedisScripts). */
  readonly migrationGuard: string;
  /** The hash tag alone (`{jq}`): what Redis Cluster hashes to pick the slot. */
  readonly hashTag: string;
  private readonly eventsBase: string;
  /** Prefix of every per-job event channel. */
  readonly eventChannelBase: string;

  /**
   * @param prefix the queue prefix (option `prefix`)
   * @param keyPrefix an ioredis `keyPrefix` the user configured; folded in here because our own
   *   connections run without one (scripts build key names from ARGV, which ioredis does not prefix)
   */
  constructor(prefix: string, keyPrefix = '') {
    this.hashTag = `{${prefix}}`;
    this.base = `${keyPrefix}${this.hashTag}:`;
    this.active = `${this.base}active`;
    this.clients = `${this.base}clients`;
    this.names = `${this.base}names`;
    this.seq = `${this.base}seq`;
    this.completed = `${this.base}completed`;
    this.failed = `${this.base}failed`;
    this.cancelled = `${this.base}cancelled`;
    this.cancelChannel = `${this.base}cancel`;
    this.paused = `${this.base}paused`;
    this.migrationGuard = `${this.base}migration-guard`;
    this.eventsBase = `${this.base}events:`;
    this.eventChannelBase = `${this.base}evc:`;
  }

  job(id: string): string {
    return `${this.base}job:${id}`;
  }

  events(id: string): string {
    return this.eventsBase + id;
  }

  /** The pub/sub channel every event of job `id` is published on (built the same way in common.lua). */
  eventChannel(id: string): string {
    return this.eventChannelBase + id;
  }

  waiting(name: string): string {
    return `${this.base}waiting:${name}`;
  }

  delayed(name: string): string {
    return `${this.base}delayed:${name}`;
  }

  wake(name: string): string {
    return `${this.base}wake:${name}`;
  }
}

/** Redis Cluster's key-to-slot function: CRC16/XMODEM of the first non-empty `{tag}`, mod 16384. */
export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed, 'utf8')) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
