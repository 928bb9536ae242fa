import { JobQueueConfigError } from './errors/job-queue.errors';
import { Messages } from './errors/job-queue.messages';
import type { JobQueueModuleOptions, ResolvedJobQueueOptions } from './job-queue.options';
import { MAX_TIMER_MS } from './utils/timer-delay';
import { isValidJobName } from './validation/job-input.validator';
import { requireInteger } from './validation/require-integer';

const PREFIX_PATTERN = /^[A-Za-z0-9._:-]{1,50}$/;

/**
 * Applies defaults once and validates: the single source of truth for option values. (Not named
 * `createJobQueueOptions`: that is the method of a user's `JobQueueOptionsFactory`.)
 */
export function resolveJobQueueOptions(options: JobQueueModuleOptions = {}): ResolvedJobQueueOptions {
  const resolved: ResolvedJobQueueOptions = {
    redis: options.redis,
    prefix: options.prefix ?? 'jq',
    shards: resolveShards(options.shards),
    leaseMs: options.leaseMs ?? 30_000,
    drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
    cancelGraceMs: options.cancelGraceMs ?? 10_000,
    watchdog: {
      intervalMs: options.watchdog?.intervalMs ?? 15_000,
      clientTimeoutMs: options.watchdog?.clientTimeoutMs ?? 90_000,
      maxStalls: options.watchdog?.maxStalls ?? 1,
    },
    events: {
      maxLen: options.events?.maxLen ?? 10_000,
      retentionMs: options.events?.retentionMs ?? 3_600_000,
    },
    maxWaiting: options.maxWaiting,
    worker: options.worker ?? true,
    maxPayloadBytes: options.maxPayloadBytes ?? 1024 * 1024,
    metrics: options.metrics ?? {},
  };
  if (!PREFIX_PATTERN.test(resolved.prefix)) {
    throw new JobQueueConfigError(
      Messages.invalidOption('prefix', "1-50 characters of letters, digits, '.', '_', ':' or '-'", resolved.prefix),
    );
  }
  requireInteger('leaseMs', resolved.leaseMs, 100);
  requireInteger('drainTimeoutMs', resolved.drainTimeoutMs, 0);
  requireInteger('cancelGraceMs', resolved.cancelGraceMs, 0);
  requireInteger('watchdog.intervalMs', resolved.watchdog.intervalMs, 10);
  if (!Number.isInteger(resolved.watchdog.clientTimeoutMs) || resolved.watchdog.clientTimeoutMs > MAX_TIMER_MS) {
    throw new JobQueueConfigError(
      Messages.invalidOption(
        'watchdog.clientTimeoutMs',
        'an integer (<= 0 disables)',
        resolved.watchdog.clientTimeoutMs,
      ),
    );
  }
  requireInteger('watchdog.maxStalls', resolved.watchdog.maxStalls, 0, 1_000);
  requireInteger('events.maxLen', resolved.events.maxLen, 10, Number.MAX_SAFE_INTEGER);
  requireInteger('events.retentionMs', resolved.events.retentionMs, 1, Number.MAX_SAFE_INTEGER);
  if (resolved.maxWaiting !== undefined) requireInteger('maxWaiting', resolved.maxWaiting, 1, Number.MAX_SAFE_INTEGER);
  requireInteger('maxPayloadBytes', resolved.maxPayloadBytes, 64, Number.MAX_SAFE_INTEGER);
  if (typeof resolved.worker !== 'boolean') {
    throw new JobQueueConfigError(Messages.invalidOption('worker', 'a boolean', resolved.worker));
  }
  requireMetricsOptions(resolved.metrics);
  return resolved;
}

/** Most shards of one queue: each costs a few connections per process (README "Redis Cluster"). */
export const MAX_SHARDS = 128;

function resolveShards(shards: JobQueueModuleOptions['shards']): ResolvedJobQueueOptions['shards'] {
  const spec = typeof shards === 'number' || shards === undefined ? { count: shards ?? 1 } : shards;
  if (typeof spec !== 'object' || spec === null) {
    throw new JobQueueConfigError(Messages.invalidOption('shards', 'a number or an object { count, pin? }', shards));
  }
  requireInteger('shards.count', spec.count, 1, MAX_SHARDS);
  const pin = spec.pin ?? [];
  if (!Array.isArray(pin) || !pin.every((name) => isValidJobName(name))) {
    throw new JobQueueConfigError(Messages.invalidOption('shards.pin', 'an array of job names', pin));
  }
  return { count: spec.count, pin: [...new Set(pin)] };
}

function requireMetricsOptions(metrics: unknown): void {
  if (metrics === false) return;
  if (typeof metrics !== 'object' || metrics === null) {
    throw new JobQueueConfigError(Messages.invalidOption('metrics', 'false or an object { registry? }', metrics));
  }
  const { registry } = metrics as { registry?: Partial<Record<'getSingleMetric' | 'registerMetric', unknown>> | null };
  if (
    registry !== undefined &&
    (typeof registry?.getSingleMetric !== 'function' || typeof registry.registerMetric !== 'function')
  ) {
    throw new JobQueueConfigError(
      Messages.invalidOption(
        'metrics.registry',
        "a prom-client Registry (e.g. `new Registry()` or prom-client's `register`)",
        registry,
      ),
    );
  }
}
