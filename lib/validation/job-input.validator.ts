import { InvalidJobError } from '../errors/job-queue.errors';
import { Messages, describeValue } from '../errors/job-queue.messages';
import { AddOptions, LIFECYCLE_EVENT_TYPES } from '../interfaces/job.interface';
import { MAX_TIMER_MS } from '../utils/timer-delay';
import { integerRuleBroken } from './require-integer';

const NAME_PATTERN = /^[A-Za-z0-9._:-]{1,100}$/;
const ID_PATTERN = /^[A-Za-z0-9._:-]{1,200}$/;
const EVENT_TYPE_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const EVENT_ID_PATTERN = /^\d{1,16}-\d{1,16}$|^0$/;
const ADD_OPTION_KEYS = [
  'jobId',
  'priority',
  'delayMs',
  'attempts',
  'backoff',
  'timeoutMs',
  'watchClient',
  'owner',
] as const;
const RESERVED_EVENT_TYPES: ReadonlySet<string> = new Set(LIFECYCLE_EVENT_TYPES);
/** Priorities are folded into a sorted-set score with the FIFO sequence, so they are bounded. */
export const MAX_PRIORITY = 1_000_000;
export const MAX_DELAY_MS = 365 * 24 * 3_600_000;
/**
 * Deepest nesting accepted in job data, results, progress and event data. The check recurses
 * (and JSON.stringify/parse do too), so unbounded depth would overflow the stack instead of
 * giving an InvalidJobError.
 */
export const MAX_PAYLOAD_DEPTH = 1_000;

export function isValidJobName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

export function validateJobName(name: unknown): asserts name is string {
  if (!isValidJobName(name)) throw new InvalidJobError(Messages.invalidName(name));
}

export function validateJobId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw new InvalidJobError(Messages.invalidJobId(id));
}

export function validateCancelReason(reason: unknown): asserts reason is string {
  if (typeof reason !== 'string' || reason.length === 0 || reason.length > 500) {
    throw new InvalidJobError(Messages.invalidOption('reason', 'a string of 1-500 characters', reason));
  }
}

export function validateEventId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !EVENT_ID_PATTERN.test(id)) throw new InvalidJobError(Messages.invalidEventId(id));
}

/** Custom event types: well-formed and not one of the lifecycle names. */
export function validateCustomEventType(type: unknown): asserts type is string {
  if (typeof type !== 'string' || !EVENT_TYPE_PATTERN.test(type))
    throw new InvalidJobError(Messages.invalidEventType(type));
  if (RESERVED_EVENT_TYPES.has(type)) throw new InvalidJobError(Messages.reservedEventType(type));
}

/** The shape of `addBulk()`'s argument: an array of plain `{ name, data, opts? }` objects. */
export function validateBulk(jobs: unknown): asserts jobs is Array<{ name: unknown; data: unknown; opts?: unknown }> {
  if (!Array.isArray(jobs)) throw new InvalidJobError(Messages.invalidBulk(`got ${describeValue(jobs)}`));
  // An index loop, not forEach: a sparse array's holes are entries too (undefined ones).
  for (let i = 0; i < jobs.length; i++) {
    const entry: unknown = jobs[i];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new InvalidJobError(Messages.invalidBulk(`entry ${i} is ${describeValue(entry)}`));
    }
  }
}

/** Normalised add options: every field the backends need, defaults applied. */
export interface NormalizedAddOptions {
  jobId?: string;
  priority: number;
  delayMs: number;
  attempts: number;
  backoff?: { type: 'fixed' | 'exponential'; delayMs: number; maxDelayMs?: number };
  timeoutMs?: number;
  watchClient: boolean;
  owner?: string;
}

export function normalizeAddOptions(opts: AddOptions | undefined): NormalizedAddOptions {
  if (opts === undefined || opts === null) opts = {};
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw new InvalidJobError(Messages.invalidOption('opts', 'an object', opts));
  }
  for (const key of Object.keys(opts)) {
    if (!(ADD_OPTION_KEYS as readonly string[]).includes(key))
      throw new InvalidJobError(Messages.unknownOption(key, ADD_OPTION_KEYS));
  }
  if (opts.jobId !== undefined) validateJobId(opts.jobId);
  const priority = opts.priority ?? 0;
  requireInt('priority', priority, -MAX_PRIORITY, MAX_PRIORITY);
  const delayMs = opts.delayMs ?? 0;
  requireInt('delayMs', delayMs, 0, MAX_DELAY_MS);
  const attempts = opts.attempts ?? 1;
  requireInt('attempts', attempts, 1, 1000);
  if (opts.timeoutMs !== undefined) requireInt('timeoutMs', opts.timeoutMs, 1, MAX_TIMER_MS);
  if (opts.watchClient !== undefined && typeof opts.watchClient !== 'boolean') {
    throw new InvalidJobError(Messages.invalidOption('watchClient', 'a boolean', opts.watchClient));
  }
  if (
    opts.owner !== undefined &&
    (typeof opts.owner !== 'string' || opts.owner.length === 0 || opts.owner.length > 200)
  ) {
    throw new InvalidJobError(Messages.invalidOption('owner', 'a string of 1-200 characters', opts.owner));
  }
  return {
    jobId: opts.jobId,
    priority,
    delayMs,
    attempts,
    backoff: opts.backoff === undefined ? undefined : normalizeBackoff(opts.backoff),
    timeoutMs: opts.timeoutMs,
    watchClient: opts.watchClient ?? false,
    owner: opts.owner,
  };
}

function normalizeBackoff(backoff: unknown): NonNullable<NormalizedAddOptions['backoff']> {
  const b = backoff as Record<string, unknown>;
  if (typeof b !== 'object' || b === null || (b.type !== 'fixed' && b.type !== 'exponential')) {
    throw new InvalidJobError(
      Messages.invalidOption('backoff', "{ type: 'fixed' | 'exponential', delayMs, maxDelayMs? }", backoff),
    );
  }
  requireInt('backoff.delayMs', b.delayMs, 0, MAX_DELAY_MS);
  if (b.maxDelayMs !== undefined) requireInt('backoff.maxDelayMs', b.maxDelayMs, 0, MAX_DELAY_MS);
  return { type: b.type, delayMs: b.delayMs as number, maxDelayMs: b.maxDelayMs as number | undefined };
}

/** Checks an integer input of a call (job options, queries, schedules): InvalidJobError, not a config error. */
export function requireInt(option: string, value: unknown, min: number, max: number): void {
  const rule = integerRuleBroken(value, min, max);
  if (rule) throw new InvalidJobError(Messages.invalidOption(option, rule, value));
}

/**
 * Serializes a payload, refusing what would not come back equal from JSON (undefined, functions,
 * NaN/Infinity, BigInt, Dates, class instances, cycles) and what exceeds the size limit.
 * Returns the JSON text so callers serialize once.
 */
export function serializePayload(value: unknown, limit: number, tooLarge = Messages.dataTooLarge): string {
  assertJsonSafe(value, new Set(), 'data', 0);
  const json = JSON.stringify(value);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > limit) throw new InvalidJobError(tooLarge(bytes, limit));
  return json;
}

function assertJsonSafe(value: unknown, seen: Set<object>, path: string, depth: number): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidJobError(Messages.dataNotJson(`${path} is ${value}`));
      return;
    case 'object':
      break;
    default:
      throw new InvalidJobError(Messages.dataNotJson(`${path} is a ${typeof value}`));
  }
  if (value === null) return;
  if (depth >= MAX_PAYLOAD_DEPTH) throw new InvalidJobError(Messages.dataTooDeep(MAX_PAYLOAD_DEPTH));
  if (seen.has(value)) throw new InvalidJobError(Messages.dataNotJson(`${path} is a circular reference`));
  const proto = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
    throw new InvalidJobError(Messages.dataNotJson(`${path} is a ${value.constructor?.name ?? 'class instance'}`));
  }
  seen.add(value);
  if (Array.isArray(value)) value.forEach((item, i) => assertJsonSafe(item, seen, `${path}[${i}]`, depth + 1));
  else for (const [k, v] of Object.entries(value)) assertJsonSafe(v, seen, `${path}.${k}`, depth + 1);
  seen.delete(value);
}
