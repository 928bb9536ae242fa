import type { AddOptions, JobEvent, ScheduleOptions } from '../../lib';

/** Commands the test sends to a child process; each gets one `reply` with the same `seq`. */
export type ChildCommand = { seq: number } & (
  | { cmd: 'add'; jobs: Array<{ name: string; data: unknown; opts?: AddOptions }> }
  | { cmd: 'get'; jobId: string }
  | { cmd: 'waitFor'; jobId: string }
  /** The job's whole history (`poll`, up to 1,000 events). */
  | { cmd: 'history'; jobId: string }
  | { cmd: 'cancel'; jobId: string; reason?: string }
  | { cmd: 'metrics' }
  /** Replies at once: its reply follows every report the child sent before it. */
  | { cmd: 'ping' }
  | { cmd: 'health' }
  | { cmd: 'sweep' }
  | { cmd: 'subscribe'; jobId: string; stream: string; after?: string }
  | { cmd: 'unsubscribe'; stream: string }
  | { cmd: 'close' }
  | { cmd: 'schedule'; scheduleId: string; name: string; data: unknown; opts: ScheduleOptions }
  | { cmd: 'schedules' }
  /** queueEvents(filter) reported as `event` reports of `stream`; ended with `unsubscribe`. */
  | { cmd: 'queueEvents'; stream: string; types?: string[]; names?: string[] }
  | { cmd: 'pause' | 'resume' | 'isPaused'; name?: string }
);

/** What a child reports: replies, handler observations and streamed events. */
export type ChildReport =
  | { type: 'ready'; pid: number }
  | { type: 'reply'; seq: number; value?: unknown; error?: { name: string; message: string } }
  | { type: 'started'; jobId: string; pid: number; at: number; attempt: number }
  | { type: 'ended'; jobId: string; pid: number; at: number }
  | { type: 'aborted'; jobId: string; pid: number; at: number; reason: string }
  | { type: 'event'; stream: string; event: JobEvent }
  | { type: 'stream-error'; stream: string; message: string }
  | { type: 'stream-complete'; stream: string }
  /** An @OnJobEvent hook ran here (settings.hooks), with the event and the job's state after it. */
  | { type: 'hook'; pid: number; event: JobEvent; state: string };
