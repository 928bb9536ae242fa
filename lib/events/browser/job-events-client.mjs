// @ts-check
/**
 * A tiny browser client for @JobEvents streams: no dependencies, load it with
 * `<script type="module">import { JobEventsClient } from '/job-events-client.mjs'</script>`.
 *
 * Follows one job (`/builds/<id>/events`) or many over one connection (a route with `idsQuery`,
 * e.g. `/builds/events?ids=a,b`), closes when every job reached its terminal event, skips events it
 * already delivered (by id, per job), resumes a new connection where the last one stopped (as
 * `?lastEventId=`), treats 204 (nothing more to send) as the end, and cancels jobs.
 */

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const LIFECYCLE = ['queued', 'active', 'progress', 'retrying', 'stalled', ...TERMINAL];

/** The cursor of a list of jobs none of which delivered an event yet. */
function ids0(/** @type {string[]} */ ids) {
  return ids.length > 0 ? ids.map(() => '0').join('_') : '0';
}

/** The body of a fetch response: parsed when it says JSON (and is), else the text. */
async function readBody(/** @type {Response} */ res) {
  const text = await res.text();
  if (!/json/i.test(res.headers.get('content-type') ?? '') || text === '') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Negative when event id a < b: ids are `<ms>-<seq>` ('0' before every event). */
export function compareEventIds(a, b) {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

/**
 * @typedef {{ id: string, jobId: string, type: string, at: number, data?: unknown }} JobEvent
 * @typedef {object} JobEventsClientOptions
 * @property {string[]} [ids] the jobs of a multiplexed route, sent as `?<idsQuery>=a,b`; omit for a single-job URL
 * @property {string} [idsQuery] the route's `idsQuery` parameter name; default 'ids'
 * @property {(jobId: string) => string} [cancelUrl] the POST route that cancels a job, for `cancel()`
 * @property {boolean} [withCredentials] send cookies to another origin (the server must allow credentials in CORS)
 * @property {string[]} [types] custom event types to listen for on a route with named events
 * @property {(event: JobEvent) => void} [onEvent] every event, once, in order per job
 * @property {() => void} [onEnd] every job ended, or the server refused a resume (204: nothing more; 404: the jobs are gone)
 * @property {(err: Event) => void} [onError] the first connection was refused (404, 403…); reconnects are not errors
 */

export class JobEventsClient {
  /**
   * @param {string} url the stream's URL
   * @param {JobEventsClientOptions} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    this.options = options;
    /** @type {Map<string, string>} last event id delivered, per job */
    this.lastIds = new Map();
    /** @type {Set<string>} jobs that reached their terminal event */
    this.ended = new Set();
    /** @type {string[]} */
    this.ids = options.ids ?? [];
    /** @type {EventSource | undefined} */
    this.source = undefined;
    // A multiplexed route waits for a list; a single-job URL opens at once.
    if (options.ids === undefined || this.ids.length > 0) this.open();
  }

  /** Follows another list of jobs over the same route, each resuming where it stopped (multiplexed routes). */
  follow(/** @type {string[]} */ ids) {
    this.ids = ids;
    if (ids.length > 0) this.open();
    else this.close();
  }

  /**
   * Asks the server to cancel a job (POST to `cancelUrl`). Resolves with the server's answer: parsed
   * when it is JSON (e.g. `{ result: 'cancelling' }`), else its text (e.g. 'cancelling' from a route
   * that returns `jobs.cancel(id)`). Rejects on an answer other than 2xx with an Error whose
   * `status` and `body` are the server's.
   * @returns {Promise<unknown>}
   */
  async cancel(/** @type {string} */ jobId) {
    if (!this.options.cancelUrl) throw new Error('JobEventsClient: pass options.cancelUrl to cancel jobs.');
    const res = await fetch(this.options.cancelUrl(jobId), {
      method: 'POST',
      credentials: this.options.withCredentials ? 'include' : 'same-origin',
    });
    const body = await readBody(res);
    if (res.ok) return body;
    const detail = typeof body === 'string' ? body : /** @type {{ message?: unknown }} */ (body)?.message;
    const error = new Error(
      `JobEventsClient: cancelling job ${jobId} failed with HTTP ${res.status}${detail ? `: ${detail}` : ''}`,
    );
    throw Object.assign(error, { status: res.status, body });
  }

  close() {
    this.source?.close();
    this.source = undefined;
  }

  /** @private */
  open() {
    this.close();
    const url = new URL(this.url, location.href);
    const multiplexed = this.ids.length > 0;
    if (multiplexed) url.searchParams.set(this.options.idsQuery ?? 'ids', this.ids.join(','));
    const cursor = multiplexed
      ? this.ids.map((id) => this.lastIds.get(id) ?? '0').join('_')
      : [...this.lastIds.values()][0];
    const resumed = cursor !== undefined && cursor !== ids0(this.ids);
    if (resumed) url.searchParams.set('lastEventId', cursor);
    const source = new EventSource(url, { withCredentials: this.options.withCredentials ?? false });
    this.source = source;
    const onMessage = (/** @type {MessageEvent} */ message) => this.receive(JSON.parse(message.data));
    source.onmessage = onMessage;
    for (const type of [...LIFECYCLE, ...(this.options.types ?? [])]) source.addEventListener(type, onMessage);
    let opened = false;
    source.onopen = () => (opened = true);
    source.onerror = (err) => {
      // EventSource reconnects by itself unless the server answered something other than a stream.
      if (source.readyState !== EventSource.CLOSED || this.source !== source) return;
      this.source = undefined;
      // A resume refused (EventSource hides the status): the 204 for "nothing more", or a 404 for
      // jobs gone since; a fresh connection refused is an error (404, 403…).
      if (opened || resumed) this.options.onEnd?.();
      else this.options.onError?.(err);
    };
  }

  /** @private */
  receive(/** @type {JobEvent} */ event) {
    const last = this.lastIds.get(event.jobId);
    if (last !== undefined && compareEventIds(event.id, last) <= 0) return; // already delivered
    this.lastIds.set(event.jobId, event.id);
    if (TERMINAL.has(event.type)) this.ended.add(event.jobId);
    this.options.onEvent?.(event);
    if (this.allEnded()) this.finish();
  }

  /** @private */
  allEnded() {
    const jobs = this.ids.length > 0 ? this.ids : [...this.lastIds.keys()];
    return jobs.length > 0 && jobs.every((id) => this.ended.has(id));
  }

  /** @private */
  finish() {
    this.close();
    this.options.onEnd?.();
  }
}
