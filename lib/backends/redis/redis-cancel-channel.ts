import type { CancelMessage } from '../queue-backend.interface';
import type { RedisBackendLogger, RedisClient, RedisConnections } from './redis-connections';
import { describeError } from '../../utils/episode-logger';

/**
 * The cancel channel: one (S)SUBSCRIBE per process on the subscriber connection, created when the
 * first listener registers. Reports 'down' when the connection drops and 'up' once subscribed
 * again, so the dispatcher can recover cancels it missed from the job records.
 */
export class RedisCancelChannel {
  private readonly cancelListeners = new Set<(message: CancelMessage) => void>();
  private readonly malformedListeners = new Set<(why: string) => void>();
  private readonly stateListeners = new Set<(state: 'up' | 'down') => void>();
  private state: 'up' | 'down' = 'down';
  private started = false;
  private closed = false;
  /** Messages that could not be parsed (logged once). */
  badMessages = 0;

  constructor(
    private readonly connections: RedisConnections,
    private readonly channel: string,
    private readonly logger: RedisBackendLogger,
  ) {}

  /** `onMalformed` hears every message that could not be parsed (the dispatcher counts them). */
  onCancel(listener: (message: CancelMessage) => void, onMalformed?: (why: string) => void): () => void {
    this.cancelListeners.add(listener);
    if (onMalformed) this.malformedListeners.add(onMalformed);
    this.start();
    return () => {
      this.cancelListeners.delete(listener);
      if (onMalformed) this.malformedListeners.delete(onMalformed);
    };
  }

  /** The listener hears the current state at once when up, then every change. */
  onState(listener: (state: 'up' | 'down') => void): () => void {
    this.stateListeners.add(listener);
    if (this.state === 'up') listener('up');
    this.start();
    return () => this.stateListeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.cancelListeners.clear();
    this.malformedListeners.clear();
    this.stateListeners.clear();
  }

  private start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.connections.get('subscriber').then(
      (client) => {
        client.on(this.connections.messageEvent, (channel: string, message: string) =>
          this.onMessage(channel, message),
        );
        client.on('ready', () => this.subscribe(client));
        client.on('close', () => this.setState('down'));
        if (client.status === 'ready') this.subscribe(client);
      },
      (err: unknown) => {
        if (!this.closed) this.logger.error(`Cancel subscription could not start: ${describeError(err)}`);
      },
    );
  }

  private subscribe(client: RedisClient): void {
    // Sharded (Redis >= 7): the channel lives on the shard of the queue's slot, as the cancel script publishes it.
    const subscribed = this.connections.subscribe(client, this.channel);
    subscribed.then(
      () => this.setState('up'),
      (err: unknown) => {
        this.setState('down'); // the connection dropped again (its next 'ready' retries) ...
        this.connections.redirected('subscriber', err); // ... or the slot moved: follow it
      },
    );
  }

  private setState(state: 'up' | 'down'): void {
    if (this.state === state || this.closed) return;
    this.state = state;
    for (const listener of [...this.stateListeners]) {
      try {
        listener(state);
      } catch (err) {
        this.logger.error(`A cancel-subscription state listener threw: ${describeError(err)}`);
      }
    }
  }

  /** Parses defensively: a malformed message is counted and ignored, never thrown. */
  private onMessage(channel: string, raw: string): void {
    if (channel !== this.channel || this.closed) return;
    let message: CancelMessage;
    try {
      const parsed = JSON.parse(raw) as Partial<CancelMessage>;
      if (typeof parsed?.jobId !== 'string' || typeof parsed.reason !== 'string' || typeof parsed.origin !== 'string') {
        throw new Error('jobId, reason and origin must be strings');
      }
      message = { jobId: parsed.jobId, reason: parsed.reason, origin: parsed.origin };
      if (typeof parsed.sentAt === 'number') message.sentAt = parsed.sentAt;
    } catch (err) {
      const why = describeError(err);
      if (this.badMessages++ === 0)
        this.logger.warn(`Ignoring a malformed cancel message (${why}); further ones are only counted.`);
      for (const listener of [...this.malformedListeners]) listener(why);
      return;
    }
    for (const listener of [...this.cancelListeners]) {
      try {
        listener(message);
      } catch (err) {
        this.logger.error(`A cancel listener threw for job '${message.jobId}': ${describeError(err)}`);
      }
    }
  }
}
