import type { Provider } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { JobQueueModule, JobQueueModuleOptions, JobQueueService, JobWatchdog } from '../../lib';
import type { QueueBackend } from '../../lib/backends/queue-backend.interface';
import { JOB_QUEUE_BACKEND } from '../../lib/job-queue.constants';
import { ContractHandlers, HandlerProbe } from './contract-handlers';

/** One Nest application context with the module and the contract handlers. */
export interface QueueApp {
  moduleRef: TestingModule;
  jobs: JobQueueService;
  watchdog: JobWatchdog;
  backend: QueueBackend;
  probe: HandlerProbe;
  close(): Promise<void>;
}

/** How a backend's spec file makes options: memory adds nothing, Redis adds `redis` and a fresh prefix. */
export type BackendOptions = () => JobQueueModuleOptions;

export async function createQueueApp(
  backendOptions: BackendOptions,
  options: JobQueueModuleOptions = {},
  { handlers = true, providers = [] }: { handlers?: boolean; providers?: Provider[] } = {},
): Promise<QueueApp> {
  const probe = new HandlerProbe();
  const moduleRef = await Test.createTestingModule({
    imports: [
      JobQueueModule.forRoot({
        cancelGraceMs: 200,
        drainTimeoutMs: 1_000,
        watchdog: { intervalMs: 60_000, clientTimeoutMs: 0 },
        ...backendOptions(),
        ...options,
      }),
    ],
    providers: [...(handlers ? [{ provide: HandlerProbe, useValue: probe }, ContractHandlers] : []), ...providers],
  }).compile();
  await moduleRef.init();
  let closed = false;
  return {
    moduleRef,
    jobs: moduleRef.get(JobQueueService),
    watchdog: moduleRef.get(JobWatchdog),
    backend: moduleRef.get<QueueBackend>(JOB_QUEUE_BACKEND),
    probe,
    close: async () => {
      if (closed) return;
      closed = true;
      await moduleRef.close();
    },
  };
}
