import { Injectable, Logger, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import {
  Job,
  JobHandler,
  JobQueueConfigError,
  JobQueueModule,
  JobQueueModuleOptions,
  JobQueueOptionsFactory,
  JobQueueService,
} from '../lib';
import type { QueueBackend } from '../lib/backends/queue-backend.interface';
import { JobQueueHealthIndicator, JobQueueHealthModule } from '../lib/health';
import { JOB_QUEUE_BACKEND, JOB_QUEUE_OPTIONS } from '../lib/job-queue.constants';
import type { ResolvedJobQueueOptions } from '../lib/job-queue.options';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { retryDelayMs } from '../lib/worker/backoff';
import { JobHandlerRegistry, type RegisteredJobHandler } from '../lib/discovery/job-handler.registry';
import { reconnectDelayMs } from '../lib/backends/redis/redis-connections';

@Injectable()
class ConfigService {
  readonly leaseMs = 12_345;
}

@Module({ providers: [ConfigService], exports: [ConfigService] })
class ConfigModule {}

@Injectable()
class OptionsFactory implements JobQueueOptionsFactory {
  createJobQueueOptions(): JobQueueModuleOptions {
    return { prefix: 'from-class' };
  }
}

@Injectable()
class EchoProcessor {
  @JobHandler('echo')
  async echo(job: Job<string>) {
    return job.data.toUpperCase();
  }
}

@Injectable()
class DuplicateEchoProcessor {
  @JobHandler('echo')
  async again() {
    return null;
  }
}

@Injectable({ scope: Scope.REQUEST })
class RequestScopedProcessor {
  @JobHandler('per-request')
  async run() {
    return null;
  }
}

async function boot(imports: unknown[], providers: unknown[] = []) {
  const moduleRef = await Test.createTestingModule({
    imports: imports as never[],
    providers: providers as never[],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe('JobQueueModule', () => {
  it('runs the handlers it discovered', async () => {
    const moduleRef = await boot([JobQueueModule.forRoot()], [EchoProcessor]);
    const jobs = moduleRef.get(JobQueueService);
    const job = await jobs.add('echo', 'hi');
    expect((await jobs.waitFor(job.id)).result).toBe('HI');
    await moduleRef.close();
  });

  it('closes the backend it created once, after the providers let go of it', async () => {
    const moduleRef = await boot([JobQueueModule.forRoot()], [EchoProcessor]);
    const backend = moduleRef.get<QueueBackend>(JOB_QUEUE_BACKEND);
    const jobs = moduleRef.get(JobQueueService);
    const close = jest.spyOn(backend, 'close');
    const job = await jobs.add('echo', 'bye');
    const stream = jobs.events(job.id).subscribe();
    await moduleRef.close();
    expect(close).toHaveBeenCalledTimes(1);
    // The service's streams were ended before the module closed the backend.
    expect(stream.closed).toBe(true);
  });

  it('warns at boot, naming it, about a @JobHandler on a request-scoped provider', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const moduleRef = await boot([JobQueueModule.forRoot()], [RequestScopedProcessor]);
      const warnings = warn.mock.calls.map(([message]) => String(message));
      expect(warnings).toEqual([
        expect.stringContaining('@JobHandler on RequestScopedProcessor.run is ignored: its provider is request-scoped'),
      ]);
      await moduleRef.close();
    } finally {
      warn.mockRestore();
    }
  });

  it('forRootAsync: useFactory with imports and inject', async () => {
    const moduleRef = await boot([
      JobQueueModule.forRootAsync({
        imports: [ConfigModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({ leaseMs: config.leaseMs }),
      }),
    ]);
    expect(moduleRef.get<ResolvedJobQueueOptions>(JOB_QUEUE_OPTIONS).leaseMs).toBe(12_345);
    await moduleRef.close();
  });

  it('forRootAsync: useClass and useExisting', async () => {
    const viaClass = await boot([JobQueueModule.forRootAsync({ useClass: OptionsFactory })]);
    expect(viaClass.get<ResolvedJobQueueOptions>(JOB_QUEUE_OPTIONS).prefix).toBe('from-class');
    await viaClass.close();
    @Module({ providers: [OptionsFactory], exports: [OptionsFactory] })
    class FactoryModule {}
    const viaExisting = await boot([
      JobQueueModule.forRootAsync({ imports: [FactoryModule], useExisting: OptionsFactory }),
    ]);
    expect(viaExisting.get<ResolvedJobQueueOptions>(JOB_QUEUE_OPTIONS).prefix).toBe('from-class');
    await viaExisting.close();
  });

  it('refuses two handlers for one job name at boot, naming both', async () => {
    const failure = boot([JobQueueModule.forRoot()], [EchoProcessor, DuplicateEchoProcessor]);
    await expect(failure).rejects.toBeInstanceOf(JobQueueConfigError);
    await expect(failure).rejects.toThrow(/EchoProcessor\.echo and DuplicateEchoProcessor\.again/);
  });

  it('on a sharded Redis queue, refuses a handler with cross-process limits whose name is not pinned', () => {
    const handler = (name: string, limits: Partial<RegisteredJobHandler>) => ({
      name,
      concurrency: 1,
      source: `P.${name}`,
      run: async () => null,
      ...limits,
    });
    const sharded = new JobHandlerRegistry(
      resolveJobQueueOptions({ redis: 'redis://127.0.0.1:1', shards: { count: 3, pin: ['pinned'] } }),
    );
    expect(() => sharded.register(handler('email', { rateLimit: { max: 1, perMs: 1_000 } }))).toThrow(
      /'email' is not in shards\.pin/,
    );
    expect(() => sharded.register(handler('capped', { globalConcurrency: 2 }))).toThrow(JobQueueConfigError);
    sharded.register(handler('pinned', { globalConcurrency: 2 }));
    sharded.register(handler('free', {}));
    expect(sharded.all().map((h) => h.name)).toEqual(['pinned', 'free']);
    // One shard, or the in-memory backend (which ignores `shards`): nothing to pin.
    new JobHandlerRegistry(resolveJobQueueOptions({ redis: 'redis://127.0.0.1:1' })).register(
      handler('email', { globalConcurrency: 1 }),
    );
    new JobHandlerRegistry(resolveJobQueueOptions({ shards: 3 })).register(handler('email', { globalConcurrency: 1 }));
  });

  it('refuses bad handler options where the decorator is applied', () => {
    expect(() => JobHandler('x', { concurrency: 0 })).toThrow(JobQueueConfigError);
    expect(() => JobHandler('x', { concurrency: 0 })).toThrow(/concurrency must be an integer/);
    expect(() => JobHandler('bad name')).toThrow(/Job name "bad name" is invalid/);
  });

  it('reports up through Terminus on the in-memory backend, and shutting down once closing', async () => {
    const moduleRef = await boot([JobQueueModule.forRoot(), JobQueueHealthModule, TerminusModule]);
    const health = moduleRef.get(HealthCheckService);
    const indicator = moduleRef.get(JobQueueHealthIndicator);
    const result = await health.check([() => indicator.isHealthy('queue')]);
    expect(result.status).toBe('ok');
    expect(result.details.queue).toMatchObject({ status: 'up', backend: 'memory', activeJobs: 0 });
    moduleRef.get(JobQueueService).beforeApplicationShutdown();
    expect(await indicator.isHealthy('queue')).toMatchObject({ queue: { status: 'down', message: 'shutting down' } });
    await moduleRef.close();
  });
});

describe('resolveJobQueueOptions', () => {
  it('applies every default once', () => {
    expect(resolveJobQueueOptions()).toEqual({
      redis: undefined,
      prefix: 'jq',
      shards: { count: 1, pin: [] },
      leaseMs: 30_000,
      drainTimeoutMs: 30_000,
      cancelGraceMs: 10_000,
      watchdog: { intervalMs: 15_000, clientTimeoutMs: 90_000, maxStalls: 1 },
      events: { maxLen: 10_000, retentionMs: 3_600_000 },
      maxWaiting: undefined,
      worker: true,
      maxPayloadBytes: 1_048_576,
      metrics: {},
    });
  });

  it.each<[string, JobQueueModuleOptions, RegExp]>([
    ['prefix', { prefix: 'has space' }, /Option 'prefix'/],
    ['leaseMs', { leaseMs: -5 }, /Option 'leaseMs' must be an integer from 100 to 2147483647/],
    [
      'cancelGraceMs past the timer range',
      { cancelGraceMs: 2 ** 31 },
      /Option 'cancelGraceMs' must be an integer from 0 to 2147483647/,
    ],
    ['maxWaiting', { maxWaiting: 0 }, /Option 'maxWaiting'/],
    ['events.maxLen', { events: { maxLen: 1.5 } }, /Option 'events.maxLen'/],
    [
      'watchdog.maxStalls',
      { watchdog: { maxStalls: -1 } },
      /Option 'watchdog.maxStalls' must be an integer from 0 to 1000/,
    ],
    ['worker', { worker: 'yes' as never }, /Option 'worker' must be a boolean/],
    ['shards', { shards: 0 }, /Option 'shards.count' must be an integer from 1 to 128/],
    ['shards.count', { shards: { count: 129 } }, /Option 'shards.count' must be an integer from 1 to 128/],
    ['shards.pin', { shards: { count: 2, pin: ['has space'] } }, /Option 'shards.pin' must be an array of job names/],
  ])('refuses a bad %s with a message naming it', (_name, options, message) => {
    expect(() => resolveJobQueueOptions(options)).toThrow(JobQueueConfigError);
    expect(() => resolveJobQueueOptions(options)).toThrow(message);
  });
});

describe('retryDelayMs', () => {
  it('is fixed, or doubles per attempt up to the cap', () => {
    expect(retryDelayMs(undefined, 3)).toBe(0);
    expect(retryDelayMs({ type: 'fixed', delayMs: 100 }, 4)).toBe(100);
    expect([1, 2, 3, 4].map((a) => retryDelayMs({ type: 'exponential', delayMs: 100, maxDelayMs: 500 }, a))).toEqual([
      100, 200, 400, 500,
    ]);
  });
});

describe('reconnectDelayMs', () => {
  it('backs off exponentially from 50 ms and caps at 2 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 30].map(reconnectDelayMs)).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000]);
  });
});
