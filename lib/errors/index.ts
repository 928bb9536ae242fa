export * from './job-queue.errors';
