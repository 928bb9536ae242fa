/** Event ids have the Redis stream form `<ms>-<seq>`; both backends use it so `after` is portable. */
export interface ParsedEventId {
  ms: number;
  seq: number;
}

export function parseEventId(id: string): ParsedEventId {
  const dash = id.indexOf('-');
  if (dash < 0) return { ms: Number(id), seq: 0 };
  return { ms: Number(id.slice(0, dash)), seq: Number(id.slice(dash + 1)) };
}

/** Negative when `a < b`, zero when equal, positive when `a > b`. */
export function compareEventIds(a: string, b: string): number {
  const pa = parseEventId(a);
  const pb = parseEventId(b);
  return pa.ms - pb.ms || pa.seq - pb.seq;
}

/** Generates strictly increasing ids for one stream even when the clock stalls or steps back. */
export class EventIdGenerator {
  private lastMs = 0;
  private seq = 0;

  next(now: number): string {
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = 0;
    } else {
      this.seq++;
    }
    return `${this.lastMs}-${this.seq}`;
  }
}
