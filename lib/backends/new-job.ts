import type { Job } from '../interfaces/job.interface';
import type { NewJob } from './queue-backend.interface';

/** The record of a job just added, as both backends store it (Redis builds it locally: no read-back). */
export function jobFromNew(spec: NewJob): Job {
  const { opts } = spec;
  const job: Job = {
    id: spec.id,
    name: spec.name,
    data: JSON.parse(spec.dataJson),
    state: opts.delayMs > 0 ? 'delayed' : 'waiting',
    attempt: 0,
    attempts: opts.attempts,
    priority: opts.priority,
    createdAt: spec.createdAt,
  };
  if (opts.owner !== undefined) job.owner = opts.owner;
  return job;
}
