import { MemoryBackend } from '../lib/backends/memory/memory.backend';
import { resolveJobQueueOptions } from '../lib/job-queue.options.resolver';
import { describeBackendConformance } from './conformance/backend.conformance';

describeBackendConformance('memory', {
  async create(options) {
    const backend = new MemoryBackend(resolveJobQueueOptions(options));
    await backend.start();
    return backend;
  },
  async setSequence(backend, n) {
    (backend as unknown as { seq: number }).seq = n;
  },
  leasesExpire: false,
});
