import type { QueueJobEvent } from '../../queue-events/queue-job-event';
import type { RedisBackendLogger, RedisClient, RedisConnections } from './redis-connections';
import { type CorruptRecordReporter, parseEvent, parseEventMessage } from './redis-job-record';
import { describeError } from '../../utils/episode-logger';

/** How long the listening flag lives without a refresh: a crashed listener costs at most this. */
export const QUEUE_EVENTS_FLAG_TTL_MS = 30_000;
/** Listening processes refresh the flag this often (a third of its TTL, so one lost refresh is harmless). */
const FLAG_REFRESH_MS = QUEUE_EVENTS_FLAG_TTL_MS / 3;

/**
 * Queue-wide events on Redis: every event of every job, live, with the job's name.
 *
 * Keys (sharing the queue's hash tag):
 * | `{jq}:qev` | pub/sub channel | `<jobId> <name> <eventId> <type>[ <data JSON>]`, from addEvent/emit |
 * | `{jq}:qe`  | string with TTL | "someone listens": the scripts publish on `qev` only while it exists |
 *
 * Why a flag key rather than PSUBSCRIBE on the per-job channels `evc:*`: with a pattern subscriber,
 * Redis matches every PUBLISH against the pattern (per pattern subscriber, per event) and the
 * per-job message lacks the job's name (a listener filtering by name would read each record).
 * Here an unobserved queue pays one EXISTS per script call that writes events, and an observed one
 * one HGET (the name) and one PUBLISH per event. The flag is set after SUBSCRIBE succeeded and
 * refreshed while this process listens; when the last listener leaves it is not deleted (another
 * process may listen) and expires within {@link QUEUE_EVENTS_FLAG_TTL_MS}.
 *
 * Uses the process's `subscriber` connection (shared with the cancel channel; each ignores the
 * other's channel). Pub/sub drops messages while disconnected: queueEvents is live only.
 */
export class RedisQueueEvents {
  private readonly listeners = new Set<(event: QueueJobEvent) => void>();
  private client?: RedisClient;
  private refreshTimer?: NodeJS.Timeout;
  private subscribed = false;
  private closed = false;
  private readonly channel: string;
  private readonly flagKey: string;

  /** @param base the queue's key prefix (`RedisKeys.base`) */
  constructor(
    private readonly connections: RedisConnections,
    base: string,
    private readonly logger: RedisBackendLogger,
    private readonly onCorrupt: CorruptRecordReporter,
  ) {
    this.channel = `${base}qev`;
    this.flagKey = `${base}qe`;
  }

  listen(listener: (event: QueueJobEvent) => void): () => void {
    if (this.closed) return () => undefined;
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      this.stop();
    };
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.stop();
  }

  private start(): void {
    this.connections.get('subscriber').then(
      (client) => {
        if (this.listeners.size === 0 || this.closed) return;
        if (this.client !== client) {
          this.client = client;
          client.on(this.connections.messageEvent, this.onMessage);
          client.on('ready', this.onReady);
        }
        if (client.status === 'ready') this.onReady();
      },
      (err: unknown) => {
        if (!this.closed) this.logger.error(`Queue events could not start: ${describeError(err)}`);
      },
    );
  }

  private stop(): void {
    clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    if (this.client && this.subscribed)
      void this.connections.unsubscribe(this.client, this.channel).catch(() => undefined);
    this.subscribed = false;
    this.client?.off(this.connections.messageEvent, this.onMessage);
    this.client?.off('ready', this.onReady);
    this.client = undefined;
  }

  /** (Re)subscribes after every connect (autoResubscribe is off on our connections), then raises the flag. */
  private readonly onReady = (): void => {
    const client = this.client;
    if (!client || this.listeners.size === 0) return;
    this.connections.subscribe(client, this.channel).then(
      () => {
        if (this.client !== client) return;
        this.subscribed = true;
        this.raiseFlag();
        this.refreshTimer ??= setInterval(() => this.raiseFlag(), FLAG_REFRESH_MS).unref();
      },
      () => undefined, // the connection dropped again; its next 'ready' retries
    );
  };

  private raiseFlag(): void {
    const failed = (err: unknown) => this.logger.warn(`Could not refresh the queue-events flag: ${describeError(err)}`);
    try {
      // Throws synchronously while the backend is not started yet; the next refresh retries.
      this.connections.command.set(this.flagKey, '1', 'PX', QUEUE_EVENTS_FLAG_TTL_MS).catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private readonly onMessage = (channel: string, message: string): void => {
    if (channel !== this.channel || this.listeners.size === 0) return;
    const event = parseQueueEventMessage(message, this.onCorrupt);
    if (!event) return;
    for (const listener of [...this.listeners]) listener(event);
  };
}

/** `<jobId> <name> <rest as a per-job event message>`; undefined when malformed. */
export function parseQueueEventMessage(message: string, onCorrupt: CorruptRecordReporter): QueueJobEvent | undefined {
  const afterId = message.indexOf(' ');
  const afterName = afterId < 0 ? -1 : message.indexOf(' ', afterId + 1);
  if (afterName < 0) return undefined;
  const jobId = message.slice(0, afterId);
  const entry = parseEventMessage(message.slice(afterName + 1));
  if (!entry) return undefined;
  return { ...parseEvent(jobId, entry, onCorrupt), name: message.slice(afterId + 1, afterName) };
}
