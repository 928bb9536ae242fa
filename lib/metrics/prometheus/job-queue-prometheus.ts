import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { QueueBackend } from '../../backends/queue-backend.interface';
import { JobHandlerRegistry } from '../../discovery/job-handler.registry';
import { JobQueueConfigError } from '../../errors/job-queue.errors';
import { Messages } from '../../errors/job-queue.messages';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from '../../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../../job-queue.options';
import { isPeerInstalled } from '../../utils/optional-peer';
import { JobQueueMetricsCollector } from '../job-queue-metrics.collector';
import { JobQueueProbes } from '../job-queue-probes';

/**
 * Publishes the queue's Prometheus metrics when the optional peer `prom-client` is installed (and
 * option `metrics` is not false). The prom-client code loads only then: this file imports none of it.
 * @internal
 */
@Injectable()
export class JobQueuePrometheus implements OnModuleInit, OnApplicationShutdown {
  private detach?: () => void;

  constructor(
    @Inject(JOB_QUEUE_BACKEND) private readonly backend: QueueBackend,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly probes: JobQueueProbes,
    private readonly collector: JobQueueMetricsCollector,
    private readonly handlers: JobHandlerRegistry,
  ) {}

  /** Attached before the worker starts (bootstrap), so the first job is counted. */
  async onModuleInit(): Promise<void> {
    const { metrics } = this.options;
    if (metrics === false) return;
    if (!isPeerInstalled('prom-client')) {
      if (metrics.registry !== undefined) throw new JobQueueConfigError(Messages.promClientMissing());
      return;
    }
    const { PrometheusProbe } = await import('./prometheus-probe');
    const probe = new PrometheusProbe(metrics.registry, {
      queue: this.options.prefix,
      backend: this.backend,
      activeByName: () => this.collector.local().worker.activeByName,
      handlerNames: () => this.handlers.all().map((handler) => handler.name),
      logger: new Logger('JobQueuePrometheus'),
    });
    const detachProbe = this.probes.attach(probe);
    this.detach = () => {
      detachProbe();
      probe.close();
    };
  }

  /** @internal Stops reporting (the metrics stay registered; their gauges drop this queue's series). */
  onApplicationShutdown(): void {
    this.detach?.();
    this.detach = undefined;
  }
}
