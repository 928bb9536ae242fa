import { Injectable } from '@nestjs/common';
import { Job, JobEvent, OnJobEvent } from '../../lib';

/** One hook call as the contract tests observe it. */
export interface HookCall {
  hook: string;
  event: JobEvent;
  job: Job;
}

/** Records every hook call; `calls` grows as hooks run. */
export class HookProbe {
  readonly calls: HookCall[] = [];

  of(jobId: string, hook?: string): HookCall[] {
    return this.calls.filter((c) => c.event.jobId === jobId && (hook === undefined || c.hook === hook));
  }
}

/** @OnJobEvent hooks for the contract: each records its calls; `throwing` throws after recording. */
@Injectable()
export class ContractHooks {
  constructor(private readonly probe: HookProbe) {}

  @OnJobEvent('queued')
  @OnJobEvent('active')
  @OnJobEvent('completed')
  @OnJobEvent('cancelled')
  lifecycle(event: JobEvent, job: Job) {
    this.probe.calls.push({ hook: 'lifecycle', event, job });
  }

  @OnJobEvent('failed', { names: ['flaky'] })
  async flakyFailed(event: JobEvent, job: Job) {
    this.probe.calls.push({ hook: 'flakyFailed', event, job });
  }

  @OnJobEvent('token')
  @OnJobEvent('progress')
  emitted(event: JobEvent, job: Job) {
    this.probe.calls.push({ hook: 'emitted', event, job });
  }

  @OnJobEvent('completed', { names: ['echo'] })
  throwing(event: JobEvent, job: Job) {
    this.probe.calls.push({ hook: 'throwing', event, job });
    throw new Error('a hook bug');
  }
}

/** The providers to pass to createQueueApp for the hook tests. */
export function hookProviders(probe: HookProbe) {
  return [{ provide: HookProbe, useValue: probe }, ContractHooks];
}
