import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { JOB_HANDLER_METADATA } from '../job-queue.constants';
import type { JobHandlerMetadata } from '../decorators/job-handler.decorator';
import { JobHandlerRegistry } from './job-handler.registry';

/** Walks every provider at init and registers the methods marked with @JobHandler. */
@Injectable()
export class JobHandlerExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly registry: JobHandlerRegistry,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const { instance } = wrapper;
      // Request-scoped and not-yet-resolved providers have no static instance to call.
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const prototype = Object.getPrototypeOf(instance);
      for (const methodName of this.scanner.getAllMethodNames(prototype)) {
        const method = prototype[methodName];
        const meta = this.reflector.get<JobHandlerMetadata | undefined>(JOB_HANDLER_METADATA, method);
        if (!meta) continue;
        this.registry.register({
          name: meta.name,
          concurrency: meta.concurrency,
          rateLimit: meta.rateLimit,
          globalConcurrency: meta.globalConcurrency,
          source: `${instance.constructor.name}.${methodName}`,
          run: (job, ctx) => Promise.resolve().then(() => method.call(instance, job, ctx)),
        });
      }
    }
  }
}
