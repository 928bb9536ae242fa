/**
 * An array kept sorted the way a Redis sorted set is: by a numeric score, then by a member string
 * (byte order; the members used here are ASCII, where JavaScript's string order is the same), so
 * the memory backend pops in exactly the order the Redis scripts do. Binary insertion, pop from the
 * front by moving a head index (Array#shift is O(n) and dominated in-memory throughput).
 * In-memory queues are small enough that O(n) insertion beats a heap's constant factors, and it
 * keeps removal-by-value (cancel) trivial. Equal (score, member) pairs keep insertion order.
 */
export class SortedQueue<T> {
  private items: Array<{ score: number; member: string; value: T }> = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(score: number, member: string, value: T): void {
    const lo = this.indexAfter(score, member);
    if (lo === this.items.length) this.items.push({ score, member, value });
    else this.items.splice(lo, 0, { score, member, value });
  }

  peekScore(): number | undefined {
    return this.items[this.head]?.score;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const { value } = this.items[this.head++];
    this.compact();
    return value;
  }

  remove(value: T): boolean {
    const index = this.items.findIndex((item, i) => i >= this.head && item.value === value);
    if (index < 0) return false;
    this.items.splice(index, 1);
    return true;
  }

  /** Up to `max` entries after (score, member) in order (from the start without a position); for list(). */
  after(
    position: { score: number; member: string } | undefined,
    max: number,
  ): Array<{ score: number; member: string; value: T }> {
    const lo = position ? this.indexAfter(position.score, position.member) : this.head;
    return this.items.slice(lo, lo + max);
  }

  /** Index of the first live entry after (score, member): binary search. */
  private indexAfter(score: number, member: string): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const item = this.items[mid];
      if (item.score < score || (item.score === score && item.member <= member)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drops consumed slots once they are the larger part, so memory follows the live size. */
  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
