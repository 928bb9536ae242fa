import fc from 'fast-check';
import { JobQueueError } from '../../lib';

/**
 * Generators of hostile input for the public API, shared by the fuzz suites, and the one check
 * every case makes: a call either succeeds or fails with a typed `JobQueueError`.
 *
 * Cases per property: FUZZ_RUNS (default 25, the short form inside `npm test`); `npm run fuzz`
 * sets it so each backend runs at least 10,000 cases.
 */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 25);
/** Per test: grows with the cases (up to ~100 ms each on a busy 2-core machine), at least Jest's usual 30 s. */
export const FUZZ_TIMEOUT_MS = Math.max(30_000, FUZZ_RUNS * 100);

/** Counts the cases each suite ran, printed by {@link reportCases} when the file ends. */
export class CaseCounter {
  private count = 0;
  constructor(private readonly label: string) {}
  tick(): void {
    this.count++;
  }
  get total(): number {
    return this.count;
  }
  /** Prints one line so the long form's figures can be read off the run. */
  report(): void {
    process.stdout.write(`fuzz: ${this.label} cases ${this.count}\n`);
  }
}

const IDENT_CHARS = fc.constantFrom(...'abcXYZ019._:-'.split(''));
/** Names and ids the API accepts. */
export const validIdent = fc.string({ unit: IDENT_CHARS, minLength: 1, maxLength: 40 });

/** Strings with lone surrogates, control characters, braces (hash tags) and separators. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({
    unit: fc.constantFrom('\ud800', '\udfff', '\u0000', '\n', '\r', ' ', '{', '}', '*', ':', '-', 'a', '1', 'é', '😀'),
  }),
  fc.constantFrom('', ' ', '0', '-', '1-1', '__proto__', 'constructor', 'a'.repeat(201), 'a'.repeat(100_000)),
);

/** Anything JavaScript can pass: primitives, BigInt, symbols, functions, Maps, Dates, null prototypes. */
export const anything = fc.oneof(
  fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withTypedArray: true,
    withSparseArray: true,
    withObjectString: true,
  }),
  fc.constantFrom(Symbol('s'), () => 1, Number.NaN, Infinity, -0, 10n ** 30n, undefined, null),
);

/** Values for a name or an id: mostly valid ones, plus every kind of wrong. */
export const identLike = fc.oneof({ arbitrary: validIdent, weight: 3 }, hostileString, anything);

/** Data nested `depth` levels (arrays or objects). */
export function nested(depth: number, asObject = false): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = asObject ? { k: value } : [value];
  return value;
}

function cyclic(): unknown {
  const a: Record<string, unknown> = { x: 1 };
  a.self = { back: a };
  return a;
}

/** Payloads: JSON-safe ones (which must round-trip) and every kind that must be refused. */
export const payload = fc.oneof(
  { arbitrary: fc.jsonValue(), weight: 4 },
  anything,
  hostileString,
  fc
    .constantFrom<() => unknown>(
      () => nested(10_000),
      () => nested(10_000, true),
      () => nested(999),
      cyclic,
      () => ({ big: 1n }),
      () => ({ fn: () => 1 }),
      () => ({ lone: '\ud800', pair: '😀' }),
      () => 'x'.repeat(2 * 1024 * 1024),
      () => [undefined],
      () => new Date(0),
    )
    .map((make) => make()),
);

/** AddOptions: valid, out-of-range, wrong-typed, unknown keys, or not an object at all. */
export const addOptions = fc.oneof(
  fc.constant(undefined),
  fc.record(
    {
      jobId: identLike,
      priority: fc.oneof(fc.integer({ min: -2_000_000, max: 2_000_000 }), anything),
      delayMs: fc.oneof(fc.integer({ min: -10, max: 1_000_000 }), anything),
      attempts: fc.oneof(fc.integer({ min: -1, max: 1_100 }), anything),
      backoff: fc.oneof(
        fc.record({
          type: fc.constantFrom('fixed', 'exponential', 'linear'),
          delayMs: fc.integer({ min: -1, max: 10_000 }),
          maxDelayMs: fc.option(fc.integer(), { nil: undefined }),
        }),
        anything,
      ),
      timeoutMs: fc.oneof(fc.integer({ min: -1, max: 2 ** 32 }), anything),
      watchClient: fc.oneof(fc.boolean(), anything),
      owner: identLike,
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(hostileString, anything, { maxKeys: 3 }),
  anything,
);

/** Event ids for `after` / Last-Event-ID: valid forms, near misses and garbage. */
export const eventIdLike = fc.oneof(
  fc.tuple(fc.nat(), fc.nat()).map(([ms, seq]) => `${ms}-${seq}`),
  fc.constantFrom('0', '-', '+', '1-', '-1', '1-1-1', '99999999999999999-0', '1.5-0', ' 1-0', '(1-0', '$'),
  hostileString,
  anything,
);

/**
 * Runs `call` and returns how it ended; throws (failing the property) on anything but a result
 * or a `JobQueueError`. Synchronous throws count as failures of the call too.
 */
export async function typedOutcome<T>(
  call: () => Promise<T> | T,
): Promise<{ ok: true; value: T } | { ok: false; error: JobQueueError }> {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    if (err instanceof JobQueueError) return { ok: false, error: err };
    throw new Error(`expected a result or a JobQueueError, got ${describe(err)}`);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error)
    return `${err.constructor.name}: ${err.message.slice(0, 300)}\n${err.stack?.split('\n').slice(1, 6).join('\n')}`;
  return String(err);
}
