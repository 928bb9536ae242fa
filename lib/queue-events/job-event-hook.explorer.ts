import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { providerMethods } from '../discovery/provider-methods';
import { JOB_EVENT_HOOK_METADATA, type JobEventHookMetadata } from './on-job-event.decorator';
import { JobEventHooks } from './job-event-hooks';

/** Walks every provider at init and registers the methods marked with @OnJobEvent. */
@Injectable()
export class JobEventHookExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly hooks: JobEventHooks,
  ) {}

  onModuleInit(): void {
    for (const { instance, methodName, method } of providerMethods(this.discovery, this.scanner)) {
      const entries = this.reflector.get<JobEventHookMetadata[] | undefined>(JOB_EVENT_HOOK_METADATA, method);
      for (const { type, names } of entries ?? []) {
        this.hooks.register({
          type,
          ...(names && { names: new Set(names) }),
          source: `${instance.constructor.name}.${methodName}`,
          call: (event, job) => Promise.resolve().then(() => method.call(instance, event, job)),
        });
      }
    }
  }
}
