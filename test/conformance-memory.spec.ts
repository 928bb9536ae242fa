import { MemoryBackend } from '../lib/backends/memory/memory.backend';
import { createJobQueueOptions } from '../lib/job-queue.options.factory';
import { describeBackendConformance } from './conformance/backend.conformance';

describeBackendConformance('memory', {
  async create(options) {
    const backend = new MemoryBackend(createJobQueueOptions(options));
    await backend.start();
    return backend;
  },
  async setSequence(backend, n) {
    (backend as unknown as { seq: number }).seq = n;
  },
  leasesExpire: false,
});
