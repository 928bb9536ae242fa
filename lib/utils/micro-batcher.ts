/** Bounds of one batched call. */
export interface MicroBatchLimits<I> {
  /** Most items per call. */
  maxItems: number;
  /** Most total `sizeOf` per call (a single larger item still goes alone). */
  maxSize: number;
  sizeOf(item: I): number;
}

/**
 * Coalesces calls made in the same turn of the event loop into batched calls: items queue up
 * until the microtask queue reaches the drain, then `flush` gets them in batches bounded by count
 * and size, and must return one result per item, in order. A failed flush rejects every item of
 * that batch.
 *
 * A microtask, not `setImmediate`: the callers that batch well (jobs finishing, adds resumed by
 * the same socket read) all run in one microtask checkpoint, and a lone call is sent without
 * waiting for the loop's check phase. Measured (npm run bench, 3 alternating runs each): processing
 * 10.4–12.5k jobs/s vs 8.9–11.5k, 50 adds in flight 17–22k/s vs 15–16k/s, same calls per job.
 */
export class MicroBatcher<I, R> {
  private queue: Array<{ item: I; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
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

  private send(batch: Array<{ item: I; resolve: (r: R) => void; reject: (e: unknown) => void }>): void {
    this.flush(batch.map((entry) => entry.item)).then(
      (results) => batch.forEach((entry, i) => entry.resolve(results[i])),
      (err: unknown) => batch.forEach((entry) => entry.reject(err)),
    );
  }
}
