import type { CancelMessage } from '../queue-backend.interface';
import type { RedisBackendLogger, RedisClient, RedisConnections } from './redis-connections';

/**
 * The cancel channel: one SUBSCRIBE per process on the subscriber connection, created when the
 * first listener registers. Reports 'down' when the connection drops and 'up' once subscribed
 * again, so the dispatcher can recover cancels it missed from the job records.
 */
export class RedisCancelChannel {
  private readonly cancelListeners = new Set<(message: CancelMessage) => void>();
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

  onCancel(listener: (message: CancelMessage) => void): () => void {
    this.cancelListeners.add(listener);
    this.start();
    return () => this.cancelListeners.delete(listener);
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
    this.stateListeners.clear();
  }

  private start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.connections.get('subscriber').then(
      (client) => {
        client.on('message', (channel: string, message: string) => this.onMessage(channel, message));
        client.on('ready', () => this.subscribe(client));
        client.on('close', () => this.setState('down'));
        if (client.status === 'ready') this.subscribe(client);
      },
      (err: unknown) => {
        if (!this.closed) this.logger.error(`Cancel subscription could not start: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }

  private subscribe(client: RedisClient): void {
    // After a reconnect ioredis resubscribes by itself; subscribing again is harmless and tells us when it is done.
    client.subscribe(this.channel).then(
      () => this.setState('up'),
      () => this.setState('down'), // the connection dropped again; its next 'ready' retries
    );
  }

  private setState(state: 'up' | 'down'): void {
    if (this.state === state || this.closed) return;
    this.state = state;
    for (const listener of [...this.stateListeners]) {
      try {
        listener(state);
      } catch (err) {
        this.logger.error(`A cancel-subscription state listener threw: ${err instanceof Error ? err.message : String(err)}`);
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
      if (this.badMessages++ === 0) {
        this.logger.warn(`Ignoring a malformed cancel message (${err instanceof Error ? err.message : String(err)}); further ones are only counted.`);
      }
      return;
    }
    for (const listener of [...this.cancelListeners]) {
      try {
        listener(message);
      } catch (err) {
        this.logger.error(`A cancel listener threw for job '${message.jobId}': ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
