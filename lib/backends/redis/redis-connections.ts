import Redis, { type Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { JobQueueError } from '../../errors/job-queue.errors';
import { TIMED_OUT, within } from '../../utils/within';
import { hashSlot } from './redis-keys';
import { type NodeAddress, slotOwnerConnector } from './redis-slot-owner-connector';
import { EpisodeLogger, describeError } from '../../utils/episode-logger';

/** What option `redis` may be: a URL, ioredis options, or a user's ioredis instance. */
export type RedisSource = string | RedisOptions | Redis | Cluster;
export type RedisClient = Redis | Cluster;

/**
 * The connection roles of one process (one connection each; on a Cluster `command` is a Cluster
 * client, and the other three are plain connections to the master that owns the queue's slot):
 * - `command`: every non-blocking command and script;
 * - `blocking`: BLPOP on wake lists for idle workers (created on first `waitForWork`);
 * - `subscriber`: the cancel channel (created on first cancel/state listener);
 * - `reader`: the per-job event channels of every event subscription (pub/sub; created on first
 *   subscribe). Kept apart from `subscriber` so a burst of events never delays a cancel.
 */
export type ConnectionRole = 'command' | 'blocking' | 'subscriber' | 'reader';

/**
 * A role's connection: `unused` (not created: this process never needed it), `up` (ready, and in
 * Cluster mode a blocking/subscriber/reader connection is on the master that owns the queue's slot),
 * or `down` (reconnecting, or on a node that no longer owns the slot).
 */
export type ConnectionState = 'up' | 'down' | 'unused';

/** The logger the backend writes to (a Nest `Logger` fits). */
export interface RedisBackendLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** How long `close()` lets the command connection flush pending writes before cutting it. */
const QUIT_TIMEOUT_MS = 1_000;
/** Bound on the slot-map refresh before each (re)connect of a slot-owner connection, and on the owner check. */
const SLOT_CHECK_TIMEOUT_MS = 1_000;
/** Roles that, on a Cluster, are plain connections to the master owning the queue's slot. */
const SLOT_OWNER_ROLES: ReadonlySet<ConnectionRole> = new Set(['blocking', 'subscriber', 'reader']);
/**
 * 1 when the scripts publish with SPUBLISH: the very test of `publish` in scripts/includes/common.lua,
 * run on the server, so subscribers and scripts agree whatever the server reports elsewhere.
 */
const SHARDED_PUBSUB_PROBE = 'return (redis.REDIS_VERSION_NUM or 0) >= 0x070000 and 1 or 0';
/**
 * Replies that mean the server no longer serves the queue's slot (failover, end of a reshard). Not ASK,
 * TRYAGAIN or CLUSTERDOWN: the slot is still there (mid-migration, or no master yet); reconnecting to the
 * same node would only spin, so those fail the command and the caller retries after its pause.
 */
const REDIRECTED = /^(MOVED|UNBLOCKED|READONLY)\b/;

/**
 * Builds and owns the backend's connections. A user's instance is only ever duplicated, never
 * used or closed; every duplicate and own connection is closed by `close()`.
 *
 * Connection errors are logged once per episode (first error, then one line on recovery), never
 * per retry, and never crash the process (every client has an 'error' listener).
 */
export class RedisConnections {
  private readonly clients = new Map<ConnectionRole, RedisClient>();
  private readonly pending = new Map<ConnectionRole, Promise<RedisClient>>();
  /** CLIENT ID per blocking role, re-read on every (re)connect because a reconnect changes it. */
  private readonly clientIds = new Map<ConnectionRole, number>();
  private readonly connectListeners = new Map<ConnectionRole, Set<() => void>>();
  /** Cluster mode: where each slot-owner connection last connected. */
  private readonly targets = new Map<ConnectionRole, NodeAddress>();
  private readonly name: string;
  /** Roles in a failure episode, and errors not logged during it. */
  private readonly failing = new Set<ConnectionRole>();
  /** Connections moving because the server ended their subscriptions (see subscriptionsEndedByServer). */
  private readonly unsubscribedByServer = new Set<ConnectionRole>();
  private readonly outage: EpisodeLogger;
  private closed = false;
  private sharded = false;

  /**
   * @param source option `redis`
   * @param slotKey any key of the queue: in Cluster mode the blocking connections go straight to
   *   the master that owns its slot, so CLIENT UNBLOCK can reach them
   * @param commandOwner set by {@link forSlot}: whose `command` connection this one uses (and leaves open)
   */
  constructor(
    private readonly source: RedisSource,
    private readonly slotKey: string,
    private readonly logger: RedisBackendLogger,
    private readonly commandOwner?: RedisConnections,
  ) {
    this.name = sourceOptions(source).connectionName ?? 'job-queue';
    this.outage = new EpisodeLogger(logger, 'Redis connection');
  }

  get isCluster(): boolean {
    return isClusterInstance(this.source);
  }

  /**
   * Connections for another slot (a shard of a sharded queue: see RedisShardRouter) that share this
   * object's `command` connection and have their own slot-owner roles; `close()` of the result
   * closes only those. The shared one must be opened first.
   */
  forSlot(slotKey: string): RedisConnections {
    return new RedisConnections(this.source, slotKey, this.logger, this);
  }

  /** The command connection; created by `open()`. */
  get command(): RedisClient {
    if (this.commandOwner) return this.commandOwner.command;
    const client = this.clients.get('command');
    if (!client) {
      throw new JobQueueError(
        this.closed ? 'The Redis backend is closed.' : 'The Redis backend is not started: call start() first.',
      );
    }
    return client;
  }

  /** Creates the command connection and waits until it answers (learning the pub/sub mode). */
  async open(): Promise<RedisClient> {
    const client = await this.get('command');
    // Every slot-map refresh (on any redirection, or ours before a reconnect) moves the slot-owner
    // connections whose node no longer serves the queue's slot (reshard, failover without a drop).
    if (isClusterInstance(client)) client.on('refresh', () => this.followSlot(client));
    this.sharded = Number(await client.eval(SHARDED_PUBSUB_PROBE, 0)) === 1;
    return client;
  }

  /**
   * Known once `open()` resolved. True (Redis >= 7): the queue's messages use sharded pub/sub
   * (SSUBSCRIBE, 'smessage'); they stay on the shard of the queue's slot instead of being copied to
   * every node of a Cluster. False: classic SUBSCRIBE/PUBLISH.
   */
  get shardedPubSub(): boolean {
    return this.sharded;
  }

  /** The client event that delivers this queue's messages ('smessage' with sharded pub/sub). */
  get messageEvent(): 'message' | 'smessage' {
    return this.sharded ? 'smessage' : 'message';
  }

  /** Subscribes `client` to channels the way the scripts publish on them (publish() in common.lua). */
  subscribe(client: RedisClient, ...channels: string[]): Promise<unknown> {
    return this.sharded ? client.ssubscribe(...channels) : client.subscribe(...channels);
  }

  unsubscribe(client: RedisClient, ...channels: string[]): Promise<unknown> {
    return this.sharded ? client.sunsubscribe(...channels) : client.unsubscribe(...channels);
  }

  /** The connection of a role, created on first use. */
  get(role: ConnectionRole): Promise<RedisClient> {
    if (role === 'command' && this.commandOwner) return this.commandOwner.get(role);
    const existing = this.clients.get(role);
    if (existing) return Promise.resolve(existing);
    let pending = this.pending.get(role);
    if (!pending) {
      pending = this.create(role).finally(() => this.pending.delete(role));
      this.pending.set(role, pending);
    }
    return pending;
  }

  /** Runs `listener` after every (re)connect of `role`, once its new CLIENT ID is known. */
  onConnect(role: ConnectionRole, listener: () => void): () => void {
    let set = this.connectListeners.get(role);
    if (!set) this.connectListeners.set(role, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  }

  /** The current CLIENT ID of a blocking connection, when known. */
  clientId(role: ConnectionRole): number | undefined {
    return this.clientIds.get(role);
  }

  /**
   * Interrupts the blocking command (BLPOP) running on `role`'s connection with
   * CLIENT UNBLOCK sent from the command connection; the command returns as if it timed out.
   * Resolves true when a blocked command was interrupted, false when none was blocked (yet).
   */
  async unblock(role: ConnectionRole): Promise<boolean> {
    const id = this.clientIds.get(role);
    const target = this.clients.get(role);
    if (id === undefined || !target || this.closed) return false;
    const address = this.targets.get(role);
    const via = this.isCluster
      ? address && this.clusterNodeAt(this.command as Cluster, address)
      : (this.command as Redis);
    if (!via) return false;
    return (await via.client('UNBLOCK', id)) === 1;
  }

  /**
   * Per role: is the connection this process relies on usable right now? On a Cluster the
   * slot-owner connections must be on the current owner of the queue's slot: that node is asked
   * (CLUSTER SLOTS through the command connection's client for it), bounded.
   */
  async states(): Promise<Record<ConnectionRole, ConnectionState>> {
    const roles: ConnectionRole[] = ['command', 'blocking', 'subscriber', 'reader'];
    const states = await Promise.all(roles.map((role) => this.state(role)));
    return Object.fromEntries(roles.map((role, i) => [role, states[i]])) as Record<ConnectionRole, ConnectionState>;
  }

  /**
   * Called with the error of a command on `role`'s connection. When the server said the queue's
   * slot is served elsewhere now (MOVED, UNBLOCKED after a demotion, READONLY), a Cluster's
   * slot-owner connection reconnects (to the new owner: see slotOwnerConnector) and true is
   * returned: the command may simply be repeated. False for any other error.
   */
  redirected(role: ConnectionRole, err: unknown): boolean {
    const client = this.clients.get(role);
    if (!this.isCluster || !SLOT_OWNER_ROLES.has(role) || !client || this.closed) return false;
    if (!REDIRECTED.test(err instanceof Error ? err.message : '')) return false;
    client.disconnect(true);
    return true;
  }

  /** Closes every connection this object created. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A connection still being created disconnects itself when it sees `closed`; wait for it, bounded
    // (in Cluster mode creation waits for the cluster to be ready, which may never happen).
    await within(Promise.allSettled([...this.pending.values()]), QUIT_TIMEOUT_MS);
    const clients = [...this.clients.entries()];
    this.clients.clear();
    this.clientIds.clear();
    this.connectListeners.clear();
    this.targets.clear();
    await Promise.all(
      clients.map(async ([role, client]) => {
        await handshakeSettled(client);
        // Blocked connections cannot QUIT (the QUIT would queue behind the block): cut them.
        // The command connection gets a chance to flush writes still in flight.
        if (role === 'command') await quitGracefully(client);
        else client.disconnect();
      }),
    );
  }

  private async create(role: ConnectionRole): Promise<RedisClient> {
    if (this.closed) throw new JobQueueError('The Redis backend is closed.');
    const overrides: RedisOptions = {
      keyPrefix: '',
      connectionName: `${this.name}:${role}`,
      // Off: it adds CPU to every lone round trip (add, claim, cancel, emit) and buys no throughput,
      // since concurrent commands share the socket anyway (README design notes hold the figures).
      enableAutoPipelining: false,
      // Blocking/subscriber commands wait through a reconnect instead of failing after N retries.
      ...(role !== 'command' && { maxRetriesPerRequest: null }),
      // The cancel channel and the event reader subscribe themselves on every 'ready', so they know
      // when they are back (the reader must catch up from the streams exactly then); a second,
      // automatic SUBSCRIBE in flight at the same time leaves ioredis's reply pending for seconds.
      ...((role === 'subscriber' || role === 'reader') && { autoResubscribe: false }),
    };
    let client: RedisClient;
    if (this.isCluster && SLOT_OWNER_ROLES.has(role)) {
      // A plain connection to the master that owns the queue's slot (all our keys live there) rather
      // than a Cluster client: CLIENT UNBLOCK needs the id of one server connection, and the reader
      // must see exactly when its connection dropped (a Cluster client moves its subscriber between
      // nodes on its own), since pub/sub messages sent meanwhile are lost and must be read back.
      // Each (re)connect asks the cluster anew which master that is (failover, reshard).
      const node = await this.slotMaster(await this.get('command'));
      // ioredis builds a Cluster's node clients with retryStrategy null (the Cluster reconnects
      // them), which duplicate() would copy: ours must reconnect on their own.
      client = node.duplicate({
        ...overrides,
        retryStrategy: reconnectDelayMs,
        Connector: slotOwnerConnector(
          () => this.slotOwner(),
          (address) => this.targets.set(role, address),
        ),
      });
    } else {
      client = duplicateOrCreate(this.source, overrides);
    }
    if (this.closed) {
      client.disconnect();
      throw new JobQueueError('The Redis backend is closed.');
    }
    this.watch(role, client);
    this.clients.set(role, client);
    // Duplicates inherit `lazyConnect` (a user's option, and always on for the node clients of a
    // Cluster): they would only connect on their first command, but the pub/sub roles wait for
    // 'ready' before sending any. Failures surface as 'error' events (logged per episode above).
    if (client.status === 'wait') client.connect().catch(() => undefined);
    return client;
  }

  /** Error logging per episode, and CLIENT ID tracking for the blocking role. */
  private watch(role: ConnectionRole, client: RedisClient): void {
    const failed = (err: unknown) => {
      if (this.isCluster && SLOT_OWNER_ROLES.has(role) && isServerShardUnsubscribe(err)) {
        this.subscriptionsEndedByServer(role, client);
      } else this.connectionFailed(role, err);
    };
    client.on('error', failed);
    if (isClusterInstance(client)) client.on('node error', failed);
    client.on('ready', () => this.connectionReady(role));
    if (role !== 'blocking') return;
    // 'connect' fires while the handshake is still running: CLIENT is a handshake command, so
    // ioredis writes it at once, ahead of the blocked command it resends after a reconnect.
    // (Read on 'ready' it would queue behind that command and only return when it unblocks.)
    const readId = () => {
      this.clientIds.delete(role);
      (client as Redis).client('ID').then(
        (id) => {
          if (this.clients.get(role) !== client) return;
          this.clientIds.set(role, Number(id));
          for (const listener of this.connectListeners.get(role) ?? []) listener();
        },
        () => undefined, // connection dropped again: the next 'connect' retries
      );
    };
    client.on('connect', readId);
    // Ids are not reused within a server's life, but are after a restart: never unblock by a stale one.
    client.on('close', () => this.clientIds.delete(role));
    if ((client as Redis).status === 'connect' || (client as Redis).status === 'ready') readId();
  }

  /**
   * One episode for the whole process: an outage makes every connection (and every reconnect
   * attempt) emit errors; only the first is logged, and one line once all are back.
   */
  private connectionFailed(role: ConnectionRole, err: unknown): void {
    if (this.closed) return;
    this.failing.add(role);
    this.outage.failed(
      `${role}: ${describeError(err)}; reconnecting (further errors are not logged until it recovers)`,
    );
  }

  /**
   * When the queue's slot leaves a master (a reshard, a failover), Redis ends every sharded
   * subscription of that slot on it with an unsolicited SUNSUBSCRIBE. ioredis takes it for the reply
   * to a command it never sent and reports "Command queue state error": that is no outage, but this
   * connection now hears nothing. It reconnects, to the slot's new owner, and subscribes again there
   * (the reader reads back what it missed meanwhile, as after any reconnect).
   */
  private subscriptionsEndedByServer(role: ConnectionRole, client: RedisClient): void {
    // One push per channel: the first one moves the connection, the rest find it moving.
    if (this.closed || this.clients.get(role) !== client || this.unsubscribedByServer.has(role)) return;
    this.unsubscribedByServer.add(role);
    client.once('ready', () => this.unsubscribedByServer.delete(role));
    this.logger.log(`Redis Cluster: the queue's slot left the ${role} connection's node; moving the connection.`);
    client.disconnect(true);
  }

  private connectionReady(role: ConnectionRole): void {
    if (!this.failing.delete(role) || this.failing.size > 0 || this.closed) return;
    this.outage.recovered();
  }

  /** Reconnects (to the slot's owner: see slotOwnerConnector) each ready slot-owner connection on another node. */
  private followSlot(cluster: Cluster): void {
    if (this.closed) return;
    const owner = cluster.slots[hashSlot(this.slotKey)]?.[0];
    if (!owner) return;
    for (const role of SLOT_OWNER_ROLES) {
      const client = this.clients.get(role);
      const target = this.targets.get(role);
      // One still connecting resolves the owner itself (its refresh is what emitted this).
      if (!client || client.status !== 'ready' || !target || `${target.host}:${target.port}` === owner) continue;
      this.logger.log(`Redis Cluster: the queue's slot moved to ${owner}; moving the ${role} connection there.`);
      client.disconnect(true);
    }
  }

  private async state(role: ConnectionRole): Promise<ConnectionState> {
    if (role === 'command' && this.commandOwner) return this.commandOwner.state(role);
    const client = this.clients.get(role);
    if (!client) return 'unused';
    if (client.status !== 'ready') return 'down';
    const target = this.targets.get(role);
    if (!this.isCluster || !SLOT_OWNER_ROLES.has(role) || !target) return 'up';
    // Ask the node itself (the client's slot map is only refreshed on redirections).
    const node = this.clusterNodeAt(this.command as Cluster, target);
    if (!node) return 'down';
    try {
      const slots = await within(node.call('CLUSTER', 'SLOTS') as Promise<ClusterSlotRange[]>, SLOT_CHECK_TIMEOUT_MS);
      if (slots === TIMED_OUT) return 'down';
      const slot = hashSlot(this.slotKey);
      const owner = slots.find(([from, to]) => from <= slot && slot <= to)?.[2];
      if (owner && Number(owner[1]) === target.port && owner[0] === target.host) return 'up';
      // Moved without a redirection we saw: refreshing the slot map moves the connection (followSlot).
      (this.command as Cluster).refreshSlotsCache();
      return 'down';
    } catch {
      return 'down';
    }
  }

  /**
   * Where the queue's slot is served now: the Cluster client's slot map, refreshed first (bounded)
   * since it only refreshes by itself on a redirection, and a failover or a reshard may not have
   * redirected anything yet. Rejects when no master serves it: the connection retries later.
   */
  private async slotOwner(): Promise<NodeAddress> {
    const cluster = this.command as Cluster;
    await within(new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve())), SLOT_CHECK_TIMEOUT_MS);
    const owner = cluster.slots[hashSlot(this.slotKey)]?.[0];
    if (!owner)
      throw new JobQueueError(`No Redis Cluster master serves the slot of '${this.slotKey}' (yet): retrying.`);
    const colon = owner.lastIndexOf(':');
    return { host: owner.slice(0, colon), port: Number(owner.slice(colon + 1)) };
  }

  /** The master node (a Redis client of the Cluster's pool) that serves the queue's slot. */
  private async slotMaster(cluster: RedisClient): Promise<Redis> {
    if (!isClusterInstance(cluster)) return cluster as Redis;
    if (cluster.status !== 'ready') await new Promise<void>((resolve) => cluster.once('ready', () => resolve()));
    const nodeKey = cluster.slots[hashSlot(this.slotKey)]?.[0];
    const node = cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
    if (!node)
      throw new JobQueueError(
        `No Redis Cluster master serves the slot of '${this.slotKey}' (yet): retry when the cluster is up.`,
      );
    return node;
  }

  /** The client of `cluster`'s pool for the server at `address`. */
  private clusterNodeAt(cluster: Cluster, address: NodeAddress): Redis | undefined {
    return cluster.nodes('all').find((n) => n.options.host === address.host && n.options.port === address.port);
  }
}

/** One range of CLUSTER SLOTS: first slot, last slot, then [host, port, id] of the master and of each replica. */
type ClusterSlotRange = [number, number, [string, number | string, ...unknown[]], ...unknown[]];

function isClusterInstance(value: unknown): value is Cluster {
  return typeof value === 'object' && value !== null && (value as { isCluster?: unknown }).isCluster === true;
}

function isRedisInstance(value: unknown): value is Redis {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { duplicate?: unknown }).duplicate === 'function' &&
    (value as { isCluster?: unknown }).isCluster === false
  );
}

/** The ioredis `keyPrefix` configured on `source`, folded into our key names (see RedisKeys). */
export function keyPrefixOf(source: RedisSource): string {
  return sourceOptions(source).keyPrefix ?? '';
}

function sourceOptions(source: RedisSource): { keyPrefix?: string; connectionName?: string } {
  if (typeof source === 'string') return {};
  if (isClusterInstance(source)) {
    const options = source.options as ClusterOptions;
    return {
      keyPrefix: options.keyPrefix ?? options.redisOptions?.keyPrefix,
      connectionName: options.redisOptions?.connectionName,
    };
  }
  if (isRedisInstance(source))
    return { keyPrefix: source.options.keyPrefix, connectionName: source.options.connectionName };
  return { keyPrefix: source.keyPrefix, connectionName: source.connectionName };
}

/** Reconnect delays for connections we configure: 50 ms doubling up to 2 s (ioredis' default grows linearly). */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), 2_000);
}

function duplicateOrCreate(source: RedisSource, overrides: RedisOptions): RedisClient {
  // A user's own retryStrategy (in options or on an instance being duplicated) wins over ours.
  if (typeof source === 'string') return new Redis(source, { retryStrategy: reconnectDelayMs, ...overrides });
  if (isClusterInstance(source)) {
    const options = source.options as ClusterOptions;
    return source.duplicate(undefined, {
      keyPrefix: '',
      enableAutoPipelining: overrides.enableAutoPipelining,
      ...(overrides.maxRetriesPerRequest === null && { maxRetriesPerRequest: null }),
      redisOptions: { ...options.redisOptions, keyPrefix: '', connectionName: overrides.connectionName },
    } as ClusterOptions);
  }
  if (isRedisInstance(source)) return source.duplicate(overrides);
  return new Redis({ retryStrategy: reconnectDelayMs, ...source, ...overrides });
}

/**
 * Cut while connecting or during its handshake, an ioredis client still runs the handshake on
 * the ending socket, fails its ready check and arms a 2 s `disconnectTimeout` timer on the
 * already closed socket, which keeps the process alive. Connecting takes a round trip or two:
 * let it finish first (bounded, for a server that froze or does not answer).
 */
async function handshakeSettled(client: RedisClient): Promise<void> {
  if (client.status !== 'connecting' && client.status !== 'connect') return;
  let timer: NodeJS.Timeout | undefined;
  let done: () => void = () => undefined;
  await new Promise<void>((resolve) => {
    done = resolve;
    client.once('ready', done);
    client.once('close', done);
    timer = setTimeout(done, QUIT_TIMEOUT_MS);
  });
  clearTimeout(timer);
  client.off('ready', done);
  client.off('close', done);
}

async function quitGracefully(client: RedisClient): Promise<void> {
  // Nothing can be in flight on a connection that is not ready: cut it (QUIT would wait for a reconnect).
  if (client.status !== 'ready') return client.disconnect();
  try {
    await within(
      client.quit().catch(() => undefined),
      QUIT_TIMEOUT_MS,
    );
  } finally {
    client.disconnect();
  }
}

/**
 * ioredis' report of an unsolicited SUNSUBSCRIBE push (the server ended a sharded subscription: the
 * channel's slot moved), e.g. "Command queue state error. ... Last reply: sunsubscribe,{jq}:cancel,0".
 */
function isServerShardUnsubscribe(err: unknown): boolean {
  return err instanceof Error && /^Command queue state error\b.*Last reply: sunsubscribe,/s.test(err.message);
}
