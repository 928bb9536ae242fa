import { BadRequestException } from '@nestjs/common';

/** What `POST /builds` accepts. Both fields are optional: the defaults make a ~10 s build. */
export interface BuildInput {
  /** Number of build steps, 1-1000. Default 20. */
  steps?: number;
  /** Time each step takes, ms, 0-60 000. Default 500. */
  stepMs?: number;
}

/** What a finished build returns (the job's `result`). */
export interface BuildResult {
  ok: true;
  steps: number;
}

export const DEFAULT_STEPS = 20;
export const DEFAULT_STEP_MS = 500;

/**
 * Checks a request body and keeps only the known fields (the sample has no class-validator).
 * An absent or empty body is a default build.
 */
export function parseBuildInput(body: unknown): BuildInput {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestException(
      'The body must be a JSON object like { "steps": 20, "stepMs": 500 } (both optional).',
    );
  }
  const { steps, stepMs } = body as Record<string, unknown>;
  const input: BuildInput = {};
  if (steps !== undefined) input.steps = integerIn('steps', steps, 1, 1_000);
  if (stepMs !== undefined) input.stepMs = integerIn('stepMs', stepMs, 0, 60_000);
  return input;
}

function integerIn(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new BadRequestException(`'${field}' must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}.`);
  }
  return value;
}
