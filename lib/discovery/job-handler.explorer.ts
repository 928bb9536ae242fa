import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { JOB_HANDLER_METADATA } from '../job-queue.constants';
import type { JobHandlerMetadata } from '../decorators/job-handler.decorator';
import { Messages } from '../errors/job-queue.messages';
import { JobHandlerRegistry } from './job-handler.registry';

/**
 * Walks every provider at init and registers the methods marked with @JobHandler. A handler on a
 * request-scoped provider cannot run (there is no instance outside a request): it gets a warning
 * naming it, as @nestjs/schedule does for cron jobs, instead of jobs that wait forever.
 */
@Injectable()
export class JobHandlerExplorer implements OnModuleInit {
  private readonly logger = new Logger('JobQueue');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly registry: JobHandlerRegistry,
  ) {}

  /** @internal */
  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const { instance } = wrapper;
      if (!instance || typeof instance !== 'object') continue;
      const prototype = Object.getPrototypeOf(instance);
      const isStatic = wrapper.isDependencyTreeStatic();
      for (const methodName of this.scanner.getAllMethodNames(prototype)) {
        const method = prototype[methodName];
        const meta = this.reflector.get<JobHandlerMetadata | undefined>(JOB_HANDLER_METADATA, method);
        if (!meta) continue;
        const source = `${instance.constructor.name}.${methodName}`;
        if (!isStatic) {
          this.logger.warn(Messages.requestScopedHandler(source));
          continue;
        }
        this.registry.register({
          name: meta.name,
          concurrency: meta.concurrency,
          rateLimit: meta.rateLimit,
          globalConcurrency: meta.globalConcurrency,
          source,
          run: (job, ctx) => Promise.resolve().then(() => method.call(instance, job, ctx)),
        });
      }
    }
  }
}
