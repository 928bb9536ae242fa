import { timerDelay } from '../../utils/timer-delay';

/**
 * Removes finished jobs after their retention with ONE timer for the whole queue: retention is the
 * same for every job, so expiry times arrive in order and a FIFO suffices.
 */
export class ExpiryQueue {
  private readonly entries: Array<{ id: string; at: number }> = [];
  private head = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly onExpire: (id: string) => void) {}

  schedule(id: string, at: number): void {
    this.entries.push({ id, at });
    if (!this.timer) this.arm();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const next = this.entries[this.head];
    if (!next) return;
    // Clamped: a retention past setTimeout's range fires early, finds nothing due and re-arms.
    this.timer = setTimeout(() => this.fire(), timerDelay(next.at - Date.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const now = Date.now();
    while (this.head < this.entries.length && this.entries[this.head].at <= now) {
      this.onExpire(this.entries[this.head++].id);
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    this.arm();
  }
}
