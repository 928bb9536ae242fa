import { Inject, Injectable } from '@nestjs/common';
import type { BackendConnectionStates, QueueBackend } from '../backends/queue-backend.interface';
import { JobCancelDispatcher } from '../cancel/job-cancel.dispatcher';
import { JOB_QUEUE_BACKEND } from '../job-queue.constants';
import { JobWatchdog } from '../watchdog/job-watchdog.service';
import { JobWorker } from '../worker/job-worker.service';
import type { JobQueueLocalStats } from './job-queue-metrics.interface';

/**
 * Gathers the counters of the process's components (worker, cancel dispatcher, watchdog), so that
 * neither the service's `metrics()` nor the health indicator depends on the components themselves.
 * @internal
 */
@Injectable()
export class JobQueueMetricsCollector {
  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    private readonly worker: JobWorker,
    private readonly dispatcher: JobCancelDispatcher,
    private readonly watchdog: JobWatchdog,
  ) {}

  /** Counters held in this process; no I/O. */
  local(): JobQueueLocalStats {
    return {
      backend: this.backend.kind,
      worker: this.worker.stats(),
      dispatcher: this.dispatcher.stats(),
      watchdog: this.watchdog.stats(),
    };
  }

  /** Round trip to the backend in ms; rejects when it is unreachable. */
  ping(): Promise<number> {
    return this.backend.ping();
  }

  /** The paused levels of the queue (see pause-levels.ts). */
  paused(): Promise<string[]> {
    return this.backend.paused();
  }

  /** Whether the connections this process needs for pickup and live events are up. */
  connectionStates(): Promise<BackendConnectionStates> {
    return this.backend.connectionStates();
  }
}
