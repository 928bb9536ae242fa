import * as http from 'node:http';

/** One SSE message (a block of lines ended by a blank line), as a browser's EventSource would see it. */
export interface SseMessage {
  id?: string;
  event?: string;
  /** The data lines joined with '\n' (undefined when the message had none). */
  data?: string;
  /** The `retry:` field (reconnect delay, ms), as sent. */
  retry?: string;
}

/**
 * A minimal Server-Sent Events client over node:http for tests: opens the stream with the given
 * headers (one connection, no keep-alive pool, so `destroy()` really closes the socket), parses the
 * messages as they arrive, and lets a test await a condition on them instead of sleeping.
 */
export class SseClient {
  readonly messages: SseMessage[] = [];
  /** The whole body when the server did not answer with an event stream (e.g. a 404 JSON body). */
  body = '';
  /** Resolves when the server ended the response (or the connection closed). */
  readonly ended: Promise<void>;

  private buffer = '';
  private isEnded = false;
  private failure?: Error;
  private readonly waiters = new Set<() => void>();
  private resolveEnded!: () => void;

  private constructor(
    private readonly request: http.ClientRequest,
    readonly response: http.IncomingMessage,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    const isStream = this.contentType.startsWith('text/event-stream');
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (isStream ? this.feed(chunk) : (this.body += chunk)));
    response.on('end', () => this.finish());
    response.on('error', (err) => this.finish(err));
    response.on('close', () => this.finish());
  }

  /** Opens `url` and resolves once the status line and headers arrived. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } });
      request.once('response', (response) => resolve(new SseClient(request, response)));
      request.once('error', reject);
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  get contentType(): string {
    return String(this.response.headers['content-type'] ?? '');
  }

  /** Messages an EventSource dispatches: those with data. */
  get events(): SseMessage[] {
    return this.messages.filter((m) => m.data !== undefined);
  }

  /** Messages without data (the opening message, heartbeats): they set the resume id, nothing else. */
  get silent(): SseMessage[] {
    return this.messages.filter((m) => m.data === undefined);
  }

  /**
   * Resolves with the messages as soon as `predicate` holds for them; rejects if the stream ends
   * first, or after `timeoutMs` (a guard against hanging, not a timing assertion).
   */
  waitFor(predicate: (messages: SseMessage[]) => boolean, timeoutMs = 10_000): Promise<SseMessage[]> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        if (predicate(this.messages)) {
          done();
          resolve(this.messages);
        } else if (this.isEnded) {
          done();
          reject(new Error(`SSE stream ended before the condition held (${this.describe()})`, { cause: this.failure }));
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(`SSE condition not met within ${timeoutMs} ms (${this.describe()})`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Resolves once a message with this event type arrived. */
  waitForEvent(type: string, timeoutMs?: number): Promise<SseMessage> {
    return this.waitFor((messages) => messages.some((m) => m.event === type), timeoutMs).then((messages) =>
      messages.find((m) => m.event === type)!,
    );
  }

  /** Closes the connection from the client side, as a browser tab that goes away. */
  destroy(): void {
    this.request.destroy();
    this.response.destroy();
  }

  private describe(): string {
    return `status ${this.status}, events: ${this.events.map((m) => m.event).join(',') || 'none'}`;
  }

  private feed(chunk: string): void {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const message = parseBlock(block);
      if (message) this.messages.push(message);
    }
    this.notify();
  }

  private finish(err?: Error): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.failure = err;
    this.resolveEnded();
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}

function parseBlock(block: string): SseMessage | undefined {
  const message: SseMessage = {};
  const data: string[] = [];
  let any = false;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue; // comments are ignored, as by EventSource
    any = true;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') message.id = value;
    else if (field === 'event') message.event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'retry') message.retry = value;
  }
  if (data.length > 0) message.data = data.join('\n');
  return any ? message : undefined;
}

/** A plain HTTP request over its own connection; resolves with status, headers and the parsed body. */
export function request(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: {
          ...(payload !== undefined && {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(payload)),
          }),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
