import { Injectable } from '@nestjs/common';
import { Job, JobContext, JobHandler } from '../../lib';
import { abortableSleep } from './abortable-sleep';
import { BuildInput, BuildResult, DEFAULT_STEPS, DEFAULT_STEP_MS } from './build.types';

const STEP_NAMES = ['resolve dependencies', 'compile', 'bundle', 'run tests', 'package', 'upload artifact'];

/**
 * A fake build: `steps` steps of `stepMs` each (20 × 500 ms by default, about 10 s). Every step
 * streams a `token` event and a `progress` event, and a cancel from any process stops it at once:
 * the signal is checked before each step and the wait between steps ends when it aborts.
 */
@Injectable()
export class BuildProcessor {
  @JobHandler('build', { concurrency: 4 })
  async build(job: Job<BuildInput>, ctx: JobContext): Promise<BuildResult> {
    const steps = job.data.steps ?? DEFAULT_STEPS;
    const stepMs = job.data.stepMs ?? DEFAULT_STEP_MS;
    for (let i = 1; i <= steps; i++) {
      if (i > 1) await abortableSleep(stepMs, ctx.signal); // the "work" between two steps
      ctx.signal.throwIfAborted(); // a cancel from any process lands here
      void ctx.emit('token', { text: `[${i}/${steps}] ${STEP_NAMES[(i - 1) % STEP_NAMES.length]}` }); // ordered; need not be awaited
      await ctx.progress(i / steps);
    }
    return { ok: true, steps };
  }
}
