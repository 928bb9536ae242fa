import type { Job, JobEvent, JobState } from '../../interfaces/job.interface';
import { JOB_STATES } from '../../interfaces/job.interface';
import type { NormalizedAddOptions } from '../../validation/job-input.validator';
import type { ClaimedJob, NewJob } from '../queue-backend.interface';

/**
 * Conversion between the job hash in Redis and the `Job` users see. Records written by another
 * version, edited by hand or damaged are possible: reading one must never throw. Unreadable
 * records become `null` (reported through `onCorrupt`), unreadable event data is left out.
 */

/** Field/value list as HGETALL returns it. */
export type FlatHash = string[];

/** Reports a corrupt record once per job id (bounded memory). */
export type CorruptRecordReporter = (jobId: string, why: string) => void;

const STATES: ReadonlySet<string> = new Set(JOB_STATES);

/** The 13 ARGV fields of one job for add-6.lua, in script order (fire-schedule-3.lua reads the first 12). */
export function newJobArgs(spec: NewJob): string[] {
  const { opts } = spec;
  return [
    spec.id,
    spec.name,
    spec.dataJson,
    String(opts.priority),
    String(opts.attempts),
    String(spec.createdAt),
    String(opts.delayMs),
    opts.owner ?? '',
    opts.backoff ? JSON.stringify(opts.backoff) : '',
    opts.timeoutMs === undefined ? '' : String(opts.timeoutMs),
    opts.watchClient ? '1' : '0',
    spec.traceContext ?? '',
    spec.generatedId ? '1' : '',
  ];
}

function toObject(flat: FlatHash): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return fields;
}

class CorruptRecord extends Error {}

function int(fields: Record<string, string>, name: string): number {
  const value = Number(fields[name]);
  if (fields[name] === undefined || !Number.isSafeInteger(value))
    throw new CorruptRecord(`field '${name}' is not an integer`);
  return value;
}

function optionalInt(fields: Record<string, string>, name: string): number | undefined {
  return fields[name] === undefined ? undefined : int(fields, name);
}

function json(fields: Record<string, string>, name: string): unknown {
  try {
    return JSON.parse(fields[name]);
  } catch {
    throw new CorruptRecord(`field '${name}' is not valid JSON`);
  }
}

/**
 * A job record (HGETALL: a field/value list from a script, or ioredis's object) as a `Job`, or
 * null when the record is empty or corrupt.
 * @param expectedId the id the record was read under (a record must agree with its key)
 */
export function parseJob(
  record: FlatHash | Record<string, string> | null | undefined,
  expectedId: string,
  onCorrupt: CorruptRecordReporter,
): Job | null {
  if (!record) return null;
  const fields = Array.isArray(record) ? toObject(record) : record;
  if (Object.keys(fields).length === 0) return null;
  try {
    return toJob(fields, expectedId);
  } catch (err) {
    if (!(err instanceof CorruptRecord)) throw err;
    onCorrupt(expectedId, err.message);
    return null;
  }
}

function toJob(f: Record<string, string>, expectedId: string): Job {
  if (f.id !== expectedId) throw new CorruptRecord(`field 'id' is ${JSON.stringify(f.id)}`);
  if (!f.name) throw new CorruptRecord(`field 'name' is missing`);
  if (!STATES.has(f.state)) throw new CorruptRecord(`field 'state' is ${JSON.stringify(f.state)}`);
  if (f.data === undefined) throw new CorruptRecord(`field 'data' is missing`);
  const job: Job = {
    id: f.id,
    name: f.name,
    data: json(f, 'data'),
    state: f.state as JobState,
    attempt: int(f, 'attempt'),
    attempts: int(f, 'attempts'),
    priority: int(f, 'priority'),
    createdAt: int(f, 'createdAt'),
  };
  if (f.owner !== undefined) job.owner = f.owner;
  const startedAt = optionalInt(f, 'startedAt');
  if (startedAt !== undefined) job.startedAt = startedAt;
  const finishedAt = optionalInt(f, 'finishedAt');
  if (finishedAt !== undefined) job.finishedAt = finishedAt;
  if (f.progress !== undefined) job.progress = json(f, 'progress');
  if (f.result !== undefined) job.result = json(f, 'result');
  if (f.error !== undefined) job.error = f.error;
  if (f.cancelReason !== undefined) job.cancelReason = f.cancelReason;
  return job;
}

/**
 * A record returned by claim-1.lua as a claimed job, or null when it is corrupt (the caller then
 * fails the attempt with the token so the job does not stay active until its lease expires).
 */
export function parseClaimed(
  id: string,
  flat: FlatHash,
  onCorrupt: CorruptRecordReporter,
): { claimed: ClaimedJob | null; token: string } {
  const fields = toObject(flat);
  const token = fields.token ?? '';
  try {
    const job = toJob(fields, id);
    const claimed: ClaimedJob = { job, token };
    const timeoutMs = optionalInt(fields, 'timeoutMs');
    if (timeoutMs !== undefined) claimed.timeoutMs = timeoutMs;
    if (fields.backoff !== undefined) claimed.backoff = json(fields, 'backoff') as NormalizedAddOptions['backoff'];
    if (fields.cancelRequested !== undefined) claimed.cancelRequested = fields.cancelRequested;
    if (fields.trace !== undefined) claimed.traceContext = fields.trace;
    return { claimed, token };
  } catch (err) {
    if (!(err instanceof CorruptRecord)) throw err;
    onCorrupt(id, err.message);
    return { claimed: null, token };
  }
}

/** One stream entry as XRANGE returns it. */
export type StreamEntry = [id: string, fields: string[]];

/**
 * A page of a job's history (read-events-2.lua: its stream, or the events derived from its record
 * while it has none). `exists`: the job's record exists.
 */
export interface HistoryPage {
  exists: boolean;
  entries: StreamEntry[];
}

/** Reads a page of a job's history: after `after` ('0' = from the start), at most `count` events. */
export type HistoryReader = (jobId: string, after: string, count: number) => Promise<HistoryPage>;

/**
 * What a job's event channel carries when the job was removed (deleteJob in
 * scripts/includes/operations.lua): no space, so it is never an event message.
 */
export const JOB_REMOVED_MESSAGE = 'removed';

const EVENT_MESSAGE_ID = /^\d+-\d+$/;

/**
 * A message of a job's event channel (written by publishEvent in scripts/includes/common.lua:
 * `<event id> <type>` or `<event id> <type> <data JSON>`) as the stream entry it announces, so
 * live events go through the same {@link parseEvent} as history. Undefined when it is malformed
 * (not ours, or damaged): the caller skips it.
 */
export function parseEventMessage(message: string): StreamEntry | undefined {
  const afterId = message.indexOf(' ');
  if (afterId < 0 || !EVENT_MESSAGE_ID.test(message.slice(0, afterId))) return undefined;
  const afterType = message.indexOf(' ', afterId + 1);
  const type = afterType < 0 ? message.slice(afterId + 1) : message.slice(afterId + 1, afterType);
  if (type === '') return undefined;
  const fields = ['t', type];
  if (afterType >= 0) fields.push('d', message.slice(afterType + 1));
  return [message.slice(0, afterId), fields];
}

/**
 * A stream entry as a `JobEvent`: `t` is the type, `d` the data JSON (absent = no data), `at` the
 * time part of the id. Unreadable data is dropped (reported), the event itself is kept so ids
 * stay gap-free for resuming clients.
 */
export function parseEvent(jobId: string, [id, fields]: StreamEntry, onCorrupt: CorruptRecordReporter): JobEvent {
  let type = '';
  let data: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 't') type = fields[i + 1];
    else if (fields[i] === 'd') data = fields[i + 1];
  }
  const event: JobEvent = { id, jobId, type, at: Number(id.slice(0, id.indexOf('-'))) };
  if (data !== undefined) {
    try {
      event.data = JSON.parse(data);
    } catch {
      onCorrupt(jobId, `event ${id} has data that is not valid JSON`);
    }
  }
  return event;
}
