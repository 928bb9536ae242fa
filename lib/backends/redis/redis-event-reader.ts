import { type Redis, ReplyError } from 'ioredis';
import { JobNotFoundError, JobQueueError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import { compareEventIds } from '../../events/event-id';
import type { JobEvent } from '../../interfaces/job.interface';
import type { EventListener } from '../queue-backend.interface';
import type { RedisBackendLogger, RedisConnections } from './redis-connections';
import {
  type CorruptRecordReporter,
  type HistoryReader,
  JOB_REMOVED_MESSAGE,
  type StreamEntry,
  parseEvent,
  parseEventMessage,
} from './redis-job-record';
import type { RedisKeys } from './redis-keys';
import { EpisodeLogger, describeError } from '../../utils/episode-logger';

/** History is read in pages of this many events (read-events-2.lua COUNT). */
const HISTORY_PAGE = 1_000;
/** Most channels per SUBSCRIBE / UNSUBSCRIBE: the first jobs of a large burst start catching up early. */
const CHANNELS_PER_CALL = 1_000;
/** Pause before retrying a failed catch-up read, or a reader connection that could not be created. */
const RETRY_MS = 1_000;

/**
 * - `waiting`: for the job's channel to be subscribed (again) on the server;
 * - `catching-up`: reading the stream after its `lastId`; live messages are buffered meanwhile;
 * - `live`: gets each message of the channel as it arrives.
 */
type SubscriptionState = 'waiting' | 'catching-up' | 'live';

interface Subscription {
  readonly group: Group;
  readonly listener: EventListener;
  /** Id of the last event delivered (or `after`): only later events are delivered. */
  lastId: string;
  state: SubscriptionState;
  closed: boolean;
  /**
   * Went live once. A failed first read ends the subscription (the caller learns at once that it
   * could not start); a failed catch-up after a reconnect is retried instead.
   */
  joined: boolean;
}

/** Every subscription of one job: they share the job's channel. */
interface Group {
  readonly jobId: string;
  readonly channel: string;
  readonly subs: Set<Subscription>;
  /** A SUBSCRIBE for this group went out, so dropping the group takes an UNSUBSCRIBE. */
  sent: boolean;
  /** The server confirmed our SUBSCRIBE on the current connection: from now on no event escapes us. */
  acked: boolean;
  /** Subscriptions reading the stream right now; while any does, messages are kept in `buffer`. */
  catchingUp: number;
  buffer: StreamEntry[];
}

/**
 * Delivers the events of many jobs to many subscribers over ONE pub/sub connection.
 *
 * Every script that appends an event also publishes it on the job's own channel (`evc:<id>`,
 * see publishEvent in scripts/includes/common.lua), so a live event costs one message to exactly
 * the processes subscribed to that job: no read per event, no work for the other subscriptions
 * of this process, whatever their number. The stream stays the source of truth; it is read
 * (read-events-2.lua on the command connection, in pages: the stream, or the events derived from
 * the record of a job that has none) only to catch up: once when a subscription starts,
 * and after each reconnect of the pub/sub connection.
 *
 * Exactly once, in order, per subscription: a job's channel is subscribed by its first
 * subscription and unsubscribed with its last (batched per tick). A subscription reads the stream
 * only after the server confirmed the SUBSCRIBE, so every event is either already in the stream
 * when it is read or arrives as a message afterwards; messages arriving while it reads are
 * buffered, and every delivery skips ids at or before the subscription's `lastId`.
 *
 * Pub/sub drops messages while disconnected. On 'close' every subscription stops going live;
 * on the next 'ready' every channel is subscribed again (ioredis's autoResubscribe is off for
 * this connection, so the confirmation is ours to see), and each subscription catches up from
 * its `lastId` as above. A read that started before the drop is repeated (the connection epoch
 * tells), so nothing is lost and nothing repeated.
 *
 * A removed job (remove-2.lua) gets the message 'removed' on its channel: its subscriptions end
 * with JobNotFoundError. One that starts after the removal finds the record gone (see readStream).
 */
export class RedisEventReader {
  /** By channel name. */
  private readonly groups = new Map<string, Group>();
  private readonly toSubscribe = new Set<string>();
  private readonly toUnsubscribe = new Set<string>();
  /** UNSUBSCRIBEs sent and not answered yet: messages still in flight on them are expected. */
  private readonly unsubscribing = new Set<string>();
  private flushScheduled = false;
  private client?: Redis;
  private connecting = false;
  /** Bumped on every drop of the pub/sub connection: confirmations and reads of an older epoch are stale. */
  private epoch = 0;
  /** The connection dropped since the last resubscription: resubscribe everything on 'ready'. */
  private dropped = false;
  private closed = false;
  private readonly readErrors: EpisodeLogger;
  /** A refused SUBSCRIBE was logged; reset by the next confirmed one. */
  private refusing = false;
  private badMessages = 0;
  private readonly pauses = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly logger: RedisBackendLogger,
    private readonly onCorrupt: CorruptRecordReporter,
    private readonly readHistory: HistoryReader,
  ) {
    this.readErrors = new EpisodeLogger(logger, 'Reading job events');
  }

  /** See `QueueBackend.subscribe`. The listener is never called before this returns. */
  subscribe(jobId: string, after: string, listener: EventListener): () => void {
    if (this.closed) return () => undefined;
    const channel = this.keys.eventChannel(jobId);
    let group = this.groups.get(channel);
    if (!group) {
      group = { jobId, channel, subs: new Set(), sent: false, acked: false, catchingUp: 0, buffer: [] };
      this.groups.set(channel, group);
      this.toSubscribe.add(channel);
      this.schedule();
    }
    const sub: Subscription = { group, listener, lastId: after, state: 'waiting', closed: false, joined: false };
    group.subs.add(sub);
    // Already confirmed: every later event reaches us, so the read can start now.
    if (group.acked) void this.catchUp(sub);
    return () => {
      if (sub.closed) return;
      sub.closed = true;
      this.leave(sub);
    };
  }

  /** Drops every subscription (the connection is closed by the owner). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const client = this.client;
    if (client) {
      client.off(this.connections.messageEvent, this.onMessage);
      client.off('close', this.onClose);
      client.off('ready', this.onReady);
    }
    for (const pause of this.pauses) {
      clearTimeout(pause.timer);
      pause.resolve();
    }
    this.pauses.clear();
    for (const group of this.groups.values()) for (const sub of group.subs) sub.closed = true;
    this.groups.clear();
    this.toSubscribe.clear();
    this.toUnsubscribe.clear();
    this.unsubscribing.clear();
  }

  // --- channel bookkeeping ------------------------------------------------------------------------

  private leave(sub: Subscription): void {
    const group = sub.group;
    if (!group.subs.delete(sub) || group.subs.size > 0 || this.groups.get(group.channel) !== group) return;
    this.groups.delete(group.channel);
    this.toSubscribe.delete(group.channel);
    if (group.sent) {
      this.toUnsubscribe.add(group.channel);
      this.schedule();
    }
  }

  /** (Un)subscriptions made in the same tick share one call. */
  private schedule(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Sends the pending UNSUBSCRIBEs, then the SUBSCRIBEs: a job left and joined again in one tick is
   * unsubscribed and subscribed in that order, and its new group waits for its own confirmation.
   */
  private flush(): void {
    const client = this.client;
    if (this.closed) return;
    if (!client) return this.connect(); // flushes once connected
    // Never before 'ready': ioredis writes SUBSCRIBE (a 'loading'-flagged command) during the
    // handshake, ahead of its ready check, whose INFO the server then refuses in subscriber mode;
    // ioredis fails the connection and rejects our SUBSCRIBE with that error. 'ready' flushes.
    if (client.status !== 'ready') return;
    if (this.toUnsubscribe.size > 0) {
      const channels = [...this.toUnsubscribe];
      this.toUnsubscribe.clear();
      for (let i = 0; i < channels.length; i += CHANNELS_PER_CALL) {
        const chunk = channels.slice(i, i + CHANNELS_PER_CALL);
        for (const channel of chunk) this.unsubscribing.add(channel);
        // A failure only leaves a subscription nobody listens to: its next message unsubscribes it
        // again (see onMessage), and a dropped connection forgets it anyway.
        const done = () => {
          for (const channel of chunk) this.unsubscribing.delete(channel);
        };
        this.connections.unsubscribe(client, ...chunk).then(done, done);
      }
    }
    if (this.toSubscribe.size === 0) return;
    const groups: Group[] = [];
    for (const channel of this.toSubscribe) {
      const group = this.groups.get(channel);
      if (!group) continue;
      group.sent = true;
      groups.push(group);
    }
    this.toSubscribe.clear();
    const epoch = this.epoch;
    for (let i = 0; i < groups.length; i += CHANNELS_PER_CALL) {
      const chunk = groups.slice(i, i + CHANNELS_PER_CALL);
      const channels = chunk.map((group) => group.channel);
      this.connections.subscribe(client, ...channels).then(
        () => this.confirmed(chunk, epoch),
        (err: unknown) => this.refused(chunk, epoch, err),
      );
    }
  }

  /**
   * A SUBSCRIBE failed. When the connection dropped (a connection error, or the reply of a
   * connection that is gone), the next 'ready' subscribes every channel again: nothing to do.
   * When the server answered with an error (e.g. NOPERM: an ACL user without access to these
   * channels), waiting would never end: the subscriptions of these groups end with that error.
   */
  private refused(groups: Group[], epoch: number, err: unknown): void {
    if (this.closed) return;
    // Sharded pub/sub on a Cluster node that lost the queue's slot (MOVED): the connection moves to
    // the new owner and every channel is subscribed again on its 'ready'.
    if (this.connections.redirected('reader', err)) return;
    if (epoch !== this.epoch || !(err instanceof ReplyError)) return this.failed(err);
    const reason = describeError(err);
    if (!this.refusing) {
      this.refusing = true; // once until a SUBSCRIBE succeeds again: each subscription gets the error anyway
      this.logger.error(`Redis refused to subscribe to job events: ${reason}`);
    }
    for (const group of groups) {
      // A group dropped (and maybe created anew) meanwhile waits for its own SUBSCRIBE.
      if (this.groups.get(group.channel) !== group) continue;
      for (const sub of [...group.subs]) {
        if (!sub.closed)
          this.end(sub, new Error(`Could not subscribe to the events of job '${group.jobId}': ${reason}`));
      }
    }
  }

  /** The server confirmed a SUBSCRIBE: the subscriptions of these groups may read the stream now. */
  private confirmed(groups: Group[], epoch: number): void {
    // Sent before the last drop: confirmed on a connection that is gone, or resent by ioredis after
    // it; either way the resubscription on 'ready' is the one that counts.
    if (this.closed || epoch !== this.epoch) return;
    this.refusing = false;
    for (const group of groups) {
      // A group dropped (and maybe created anew) meanwhile waits for its own SUBSCRIBE.
      if (this.groups.get(group.channel) !== group || group.acked) continue;
      group.acked = true;
      for (const sub of group.subs) if (sub.state === 'waiting') void this.catchUp(sub);
    }
  }

  private connect(): void {
    if (this.connecting || this.client || this.closed) return;
    this.connecting = true;
    this.connections.get('reader').then(
      (client) => {
        this.connecting = false;
        if (this.closed) return;
        this.client = client as Redis;
        this.client.on(this.connections.messageEvent, this.onMessage);
        this.client.on('close', this.onClose);
        this.client.on('ready', this.onReady);
        this.flush(); // a no-op until 'ready' (then onReady flushes)
      },
      async (err: unknown) => {
        this.connecting = false;
        if (this.closed) return;
        this.failed(err);
        await this.pause();
        if (this.groups.size > 0) this.connect();
      },
    );
  }

  private readonly onClose = (): void => {
    this.epoch++;
    this.dropped = true;
    for (const group of this.groups.values()) {
      group.acked = false;
      // Those reading the stream notice the new epoch when their read returns.
      for (const sub of group.subs) if (sub.state === 'live') sub.state = 'waiting';
    }
  };

  private readonly onReady = (): void => {
    if (this.closed) return;
    if (this.dropped) {
      // Pending UNSUBSCRIBEs stay: ioredis may have resent a SUBSCRIBE left unanswered by the drop.
      this.dropped = false;
      for (const channel of this.groups.keys()) this.toSubscribe.add(channel);
    }
    this.flush();
  };

  // --- delivery -----------------------------------------------------------------------------------

  private readonly onMessage = (channel: string, message: string): void => {
    if (this.closed) return;
    const group = this.groups.get(channel);
    if (!group) {
      // A channel nobody here wants any more: a message in flight while we unsubscribed, or a
      // SUBSCRIBE that ioredis resent after a reconnect for a job left meanwhile. Drop it for good.
      if (
        channel.startsWith(this.keys.eventChannelBase) &&
        !this.unsubscribing.has(channel) &&
        !this.toUnsubscribe.has(channel)
      ) {
        this.toUnsubscribe.add(channel);
        this.schedule();
      }
      return;
    }
    if (message === JOB_REMOVED_MESSAGE) return this.removed(group);
    const entry = parseEventMessage(message);
    if (!entry) return this.badMessage(group.jobId, message);
    if (group.catchingUp > 0) group.buffer.push(entry);
    for (const sub of group.subs) if (sub.state === 'live' && !sub.closed) this.deliver(sub, [entry]);
  };

  /**
   * Reads the stream after the subscription's `lastId`, then hands over the messages buffered
   * meanwhile and goes live. Starts only while the group is confirmed on the current connection;
   * a read overlapping a drop is repeated once the channel is confirmed again.
   */
  private async catchUp(sub: Subscription): Promise<void> {
    const group = sub.group;
    sub.state = 'catching-up';
    group.catchingUp++;
    try {
      for (;;) {
        if (sub.closed || this.closed) return;
        if (!group.acked) {
          sub.state = 'waiting'; // the next confirmation starts it again
          return;
        }
        const epoch = this.epoch;
        try {
          if (!(await this.readStream(sub)))
            return this.end(sub, new JobNotFoundError(Messages.notFound(group.jobId), group.jobId));
        } catch (err) {
          if (sub.closed || this.closed) return;
          if (await this.endIfUnreadable(sub, err)) return;
          if (!sub.joined) return this.end(sub, err instanceof Error ? err : new Error(String(err)));
          this.failed(err);
          await this.pause();
          continue;
        }
        if (sub.closed || this.closed) return;
        // Messages published while the connection was down are lost: read again, after the new SUBSCRIBE.
        if (epoch !== this.epoch) continue;
        break;
      }
      this.recovered();
      sub.state = 'live';
      sub.joined = true;
      // What the read already returned is skipped by id; the rest follows it, in order.
      this.deliver(sub, group.buffer);
    } finally {
      if (--group.catchingUp === 0) group.buffer = [];
    }
  }

  /**
   * False when the job does not exist: removed before the channel was confirmed, so no 'removed'
   * message will come (later removals send one). The read answers whether the record exists; it
   * matters only when a subscription's first read finds nothing (a job always has an event).
   */
  private async readStream(sub: Subscription): Promise<boolean> {
    let first = !sub.joined;
    for (;;) {
      const { exists, entries } = await this.readHistory(sub.group.jobId, sub.lastId, HISTORY_PAGE);
      if (sub.closed) return true;
      if (first && entries.length === 0 && !exists) return false;
      first = false;
      if (entries.length < HISTORY_PAGE) {
        this.deliver(sub, entries);
        return true;
      }
      // More may follow: the page's last entry goes with the next read, so a batch never ends with
      // a terminal event that later events (a retry) follow; the listener completes on such an end.
      this.deliver(sub, entries.slice(0, -1));
    }
  }

  /** Hands the entries newer than the subscription's position to its listener. */
  private deliver(sub: Subscription, entries: StreamEntry[]): void {
    const events: JobEvent[] = [];
    for (const entry of entries) {
      if (compareEventIds(entry[0], sub.lastId) > 0) events.push(parseEvent(sub.group.jobId, entry, this.onCorrupt));
    }
    if (events.length === 0) return;
    sub.lastId = events[events.length - 1].id;
    try {
      sub.listener.next(events);
    } catch (err) {
      this.logger.error(`An event listener of job '${sub.group.jobId}' threw: ${describeError(err)}`);
    }
  }

  // --- failures -----------------------------------------------------------------------------------

  /** The job was removed (remove/clean): every subscription of it ends with JobNotFoundError. */
  private removed(group: Group): void {
    for (const sub of [...group.subs]) {
      if (!sub.closed) this.end(sub, new JobNotFoundError(Messages.removed(group.jobId), group.jobId));
    }
  }

  /** A key that holds something other than a stream ends that job's subscription only. True when it did. */
  private async endIfUnreadable(sub: Subscription, err: unknown): Promise<boolean> {
    if (!/WRONGTYPE/.test(err instanceof Error ? err.message : '')) return false;
    const jobId = sub.group.jobId;
    const type = await this.connections.command.type(this.keys.events(jobId)).catch(() => 'another type');
    this.onCorrupt(jobId, `its event key holds a ${type}, not a stream`);
    if (!sub.closed)
      this.end(
        sub,
        new JobQueueError(
          Messages.wrongKeyType(`the events of job '${jobId}' are unreadable: the key holds a ${type}, not a stream`),
        ),
      );
    return true;
  }

  private end(sub: Subscription, err: Error): void {
    sub.closed = true;
    this.leave(sub);
    try {
      sub.listener.error(err);
    } catch (thrown) {
      this.logger.error(`An event listener of job '${sub.group.jobId}' threw: ${describeError(thrown)}`);
    }
  }

  /** Skips a message that is not an event: logged once, then only counted. */
  private badMessage(jobId: string, message: string): void {
    if (this.badMessages++ > 0) return;
    this.logger.warn(
      `Ignoring a malformed event message for job '${jobId}' (${JSON.stringify(message.slice(0, 80))}); further ones are only counted.`,
    );
  }

  private pause(): Promise<void> {
    return new Promise<void>((resolve) => {
      const pause = {
        resolve,
        timer: setTimeout(() => {
          this.pauses.delete(pause);
          resolve();
        }, RETRY_MS),
      };
      this.pauses.add(pause);
    });
  }

  /** Logged once per outage (the reader retries until it recovers). */
  private failed(err: unknown): void {
    if (!this.closed) this.readErrors.failed(err);
  }

  private recovered(): void {
    this.readErrors.recovered();
  }
}
