/** A promise with its resolve/reject exposed: lets tests await events instead of sleeping. */
export class Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (err: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/** Deferreds by key, created on first use from either side. */
export class DeferredMap<T = void> {
  private readonly map = new Map<string, Deferred<T>>();

  get(key: string): Deferred<T> {
    let d = this.map.get(key);
    if (!d) this.map.set(key, (d = new Deferred<T>()));
    return d;
  }
}

/**
 * For the few tests whose subject IS the passage of time (a lease or a client timeout elapsing),
 * there is no event to await. Everywhere else, await an event.
 */
export function elapse(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a truthy value (for state changes made by background timers). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await elapse(everyMs);
  }
}
