/** What an EpisodeLogger writes to: a Nest `Logger`, or any object with these two methods. */
export interface EpisodeLogSink {
  log(message: string): void;
  error(message: string): void;
}

/**
 * Logs a failure once per episode: the first error is logged, repeats are counted silently
 * until `recovered()` is called, which logs how many were suppressed. Keeps a flapping Redis
 * from flooding the logs with one line per retry.
 */
export class EpisodeLogger {
  private failing = false;
  private suppressed = 0;

  constructor(
    private readonly logger: EpisodeLogSink,
    private readonly what: string,
  ) {}

  failed(err: unknown): void {
    if (this.failing) {
      this.suppressed++;
      return;
    }
    this.failing = true;
    this.logger.error(`${this.what} failed: ${describeError(err)}`);
  }

  recovered(): void {
    if (!this.failing) return;
    this.logger.log(
      `${this.what} recovered${this.suppressed ? ` (${this.suppressed} more failures were not logged)` : ''}.`,
    );
    this.failing = false;
    this.suppressed = 0;
  }
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
