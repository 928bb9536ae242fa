/** Bounds of one batched call. */
export interface MicroBatchLimits<I> {
  /** Most items per call. */
  maxItems: number;
  /** Most total `sizeOf` per call (a single larger item still goes alone). */
  maxSize: number;
  sizeOf(item: I): number;
}

/** Items taken out of a batcher to travel with another call (see {@link MicroBatcher.take}). */
export interface TakenBatch<I, R> {
  items: I[];
  /** One result per item, in order. */
  resolve(results: R[]): void;
  reject(err: unknown): void;
}

type Entry<I, R> = { item: I; resolve: (r: R) => void; reject: (e: unknown) => void };

/**
 * Coalesces calls made in the same turn of the event loop into batched calls: items queue up
 * until the microtask queue reaches the drain, then `flush` gets them in batches bounded by count
 * and size, and must return one result per item, in order. A failed flush rejects every item of
 * that batch.
 *
 * A microtask, not `setImmediate`: the callers that batch well (jobs finishing, adds resumed by
 * the same socket read) all run in one microtask checkpoint, and a lone call is sent without
 * waiting for the loop's check phase (it measured faster in `npm run bench`, with the same calls
 * per job).
 */
export class MicroBatcher<I, R> {
  private queue: Array<Entry<I, R>> = [];
  private scheduled = false;

  constructor(
    private readonly flush: (items: I[]) => Promise<R[]>,
    private readonly limits: MicroBatchLimits<I>,
  ) {}

  push(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.drain());
      }
    });
  }

  /**
   * Takes the items queued and not sent yet (at most one batch's worth), so the caller can send
   * them with a call of its own in the same round trip; the caller settles them. The rest, if
   * any, still go at the drain. Undefined when nothing is queued.
   */
  take(): TakenBatch<I, R> | undefined {
    if (this.queue.length === 0) return undefined;
    let count = 0;
    let size = 0;
    for (const entry of this.queue) {
      const itemSize = this.limits.sizeOf(entry.item);
      if (count > 0 && (count >= this.limits.maxItems || size + itemSize > this.limits.maxSize)) break;
      count++;
      size += itemSize;
    }
    const taken = this.queue.splice(0, count);
    return {
      items: taken.map((entry) => entry.item),
      resolve: (results) => taken.forEach((entry, i) => entry.resolve(results[i])),
      reject: (err) => taken.forEach((entry) => entry.reject(err)),
    };
  }

  private drain(): void {
    this.scheduled = false;
    const pending = this.queue;
    this.queue = [];
    let batch: typeof pending = [];
    let size = 0;
    for (const entry of pending) {
      const itemSize = this.limits.sizeOf(entry.item);
      if (batch.length > 0 && (batch.length >= this.limits.maxItems || size + itemSize > this.limits.maxSize)) {
        this.send(batch);
        batch = [];
        size = 0;
      }
      batch.push(entry);
      size += itemSize;
    }
    if (batch.length > 0) this.send(batch);
  }

  private send(batch: Array<Entry<I, R>>): void {
    this.flush(batch.map((entry) => entry.item)).then(
      (results) => batch.forEach((entry, i) => entry.resolve(results[i])),
      (err: unknown) => batch.forEach((entry) => entry.reject(err)),
    );
  }
}
