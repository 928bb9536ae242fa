import 'reflect-metadata';
import { INestApplicationContext, Injectable, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Cluster, type RedisOptions } from 'ioredis';
import { Job, JobContext, JobHandler, JobQueueModule, JobQueueModuleOptions, JobQueueService } from '../lib';

/** A handler body plus its concurrency, registered with @JobHandler under a name chosen at run time. */
export interface HandlerSpec {
  concurrency: number;
  run(job: Job<any>, ctx: JobContext): Promise<unknown>;
}

export interface QueueAppOptions {
  /**
   * Omit for the in-memory backend. `connectionName` marks this process's connections in CLIENT LIST
   * (on a Cluster instance: its `redisOptions.connectionName`).
   */
  redis?: RedisOptions | Cluster;
  prefix: string;
  handlers?: Record<string, HandlerSpec>;
  /** Extra module options (leaseMs, events, ...). */
  module?: Partial<JobQueueModuleOptions>;
}

export interface QueueApp {
  app: INestApplicationContext;
  jobs: JobQueueService;
  close(): Promise<void>;
}

/** A Nest application context with JobQueueModule.forRoot and the given handlers: the public API only. */
export async function createQueueApp(options: QueueAppOptions): Promise<QueueApp> {
  const handlers = options.handlers ?? {};
  const providers = Object.keys(handlers).length > 0 ? [handlerProvider(handlers)] : [];

  @Module({
    imports: [
      JobQueueModule.forRoot({
        ...(options.redis && { redis: options.redis instanceof Cluster ? options.redis : { ...options.redis } }),
        prefix: options.prefix,
        worker: providers.length > 0,
        // Library defaults otherwise; only shutdown is shortened, and Prometheus metrics (on by default
        // when prom-client is installed, as it is here as a devDependency) are off, like the peers'.
        metrics: false,
        drainTimeoutMs: 2_000,
        cancelGraceMs: 2_000,
        ...options.module,
      }),
    ],
    providers,
  })
  class BenchModule {}

  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'warn'] });
  return { app, jobs: app.get(JobQueueService), close: () => app.close() };
}

/** Builds an @Injectable class with one @JobHandler method per entry (names decided at run time). */
function handlerProvider(handlers: Record<string, HandlerSpec>): Type<unknown> {
  class BenchHandlers {}
  Object.entries(handlers).forEach(([name, spec], i) => {
    const key = `handler${i}`;
    const descriptor: PropertyDescriptor = { value: spec.run, writable: true, configurable: true, enumerable: false };
    Object.defineProperty(BenchHandlers.prototype, key, descriptor);
    JobHandler(name, { concurrency: spec.concurrency })(BenchHandlers.prototype, key, descriptor);
  });
  Injectable()(BenchHandlers);
  return BenchHandlers;
}

/** A promise gate: handlers park on it until the measurement starts, so app start-up is not timed. */
export class Gate {
  private opened = false;
  private release!: () => void;
  private readonly promise = new Promise<void>((resolve) => (this.release = resolve));

  get isOpen(): boolean {
    return this.opened;
  }

  wait(): Promise<void> {
    return this.promise;
  }

  open(): void {
    this.opened = true;
    this.release();
  }
}
