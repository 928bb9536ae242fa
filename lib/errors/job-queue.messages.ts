/** Every user-facing message in one place, each saying what was wrong and what to do. */
export const Messages = {
  invalidName: (name: unknown) =>
    `Job name ${describeValue(name)} is invalid: use 1-100 characters of letters, digits, '.', '_', ':' or '-'.`,
  invalidJobId: (id: unknown) =>
    `Job id ${describeValue(id)} is invalid: use 1-200 characters of letters, digits, '.', '_', ':' or '-'.`,
  invalidOption: (option: string, rule: string, value: unknown) =>
    `Option '${option}' must be ${rule}; got ${describeValue(value)}.`,
  unknownOption: (option: string, allowed: readonly string[]) =>
    `Unknown option '${option}': use one of ${allowed.join(', ')}.`,
  dataNotJson: (why: string) =>
    `Job data must survive JSON.stringify/JSON.parse unchanged (${why}): pass plain objects, arrays, strings, finite numbers, booleans or null.`,
  dataTooLarge: (bytes: number, limit: number) =>
    `Job data is ${bytes} bytes as JSON, over the ${limit}-byte limit: store large payloads elsewhere and pass a reference, or raise 'maxPayloadBytes'.`,
  resultTooLarge: (bytes: number, limit: number) =>
    `Handler result is ${bytes} bytes as JSON, over the ${limit}-byte limit; return a reference to large results instead.`,
  reservedEventType: (type: string) =>
    `Event type '${type}' is reserved for the queue's lifecycle events: pick another name for ctx.emit().`,
  invalidEventType: (type: unknown) =>
    `Event type ${describeValue(type)} is invalid: use 1-64 characters of letters, digits, '.', '_', ':' or '-'.`,
  invalidEventId: (id: unknown) =>
    `Event id ${describeValue(id)} is invalid: pass an id taken from a JobEvent (form '<ms>-<seq>') or '0'.`,
  queueFull: (max: number) =>
    `The queue already holds ${max} waiting jobs (maxWaiting): retry later, or raise 'maxWaiting'.`,
  drained: () => `The job queue is shutting down and accepts no new jobs: retry on another instance.`,
  clientGoneCancelFailed: (count: number, first: string) =>
    `${count} idle-client job(s) could not be cancelled this sweep (first: ${first}); the others were, and the next sweep tries again.`,
  waitInterrupted: (id: string) =>
    `Stopped waiting for job '${id}': this process is shutting down. The job goes on; wait for it from another instance.`,
  notFound: (id: string) => `No job with id '${id}': it was never added, or it was removed after its retention period.`,
  duplicateHandler: (name: string, first: string, second: string) =>
    `Two @JobHandler('${name}') methods were found (${first} and ${second}): give each job name exactly one handler.`,
  limitedNameNotPinned: (name: string, source: string) =>
    `@JobHandler('${name}') (${source}) has a rateLimit or globalConcurrency, but the queue is sharded and '${name}' is not in ` +
    `shards.pin: its jobs would be spread over shards that each count its limits. Add '${name}' to shards.pin in every process of the queue.`,
  waitForTimeout: (id: string, ms: number) => `Job '${id}' did not finish within ${ms} ms.`,
  overdueHandler: (jobId: string, name: string, why: string) =>
    `The handler of job '${jobId}' ('${name}') still runs although its attempt ended (${why}): it keeps its concurrency slot ` +
    `until it returns. Make the handler honour ctx.signal (e.g. call ctx.signal.throwIfAborted() between steps).`,
  scriptsMissing: (dir: string) =>
    `The Redis backend's Lua scripts were not found in ${dir}: build with 'npm run build', which copies lib/backends/redis/scripts next to the compiled redis-scripts.js.`,
  damagedRecord: () =>
    'the job record is damaged (it has no job name), so the job cannot go back to a queue; add it again',
  /** `times` is a number, or '%d' for the Redis script to fill in. */
  stalled: (times: number | string) =>
    `stalled ${times} time(s): its worker lost the lease (died or froze) more often than watchdog.maxStalls allows; retry it, or raise watchdog.maxStalls`,
  redisUnreachable: (cause: string) =>
    `Could not reach Redis while starting the job queue (${cause}): start Redis, or fix option 'redis' (URL, options or instance).`,
  corruptRecord: (id: string, why: string) => `Job record '${id}' is corrupt (${why}); it was skipped.`,
  dataTooDeep: (maxDepth: number) =>
    `Job data nests deeper than ${maxDepth} levels: flatten it, or store it elsewhere and pass a reference.`,
  invalidBulk: (what: string) => `addBulk() takes an array of { name, data, opts? } objects; ${what}.`,
  wrongKeyType: (detail: string) =>
    `A queue key in Redis holds a value of the wrong type (${detail}): another program wrote to the queue's keys; give the queue its own 'prefix' or remove the foreign key.`,
  slotMigrating: (detail: string) =>
    `The queue's Redis Cluster slot is being migrated to another master (${detail}): its scripts cannot run until the migration ends; retry then.`,
  scriptFailed: (detail: string) =>
    `A queue script failed in Redis (${detail}), most likely on a damaged job record: remove the record, or report it if it was written by this library.`,
  jobIdsQuery: (param: string) =>
    `Query parameter '${param}' must list the job ids to stream, comma-separated, e.g. ?${param}=a,b.`,
  jobIdList: (max: number) =>
    `A stream of many jobs takes 1-${max} distinct job ids: split longer lists over several streams.`,
  eventCursor: (count: number) =>
    `The resume cursor (Last-Event-ID or ?lastEventId=) must hold ${count} event ids joined by '_', one per job in the order of the ids: pass the id of the last message you received.`,
  noneOfTheJobsFound: (count: number) =>
    `None of the ${count} jobs of this stream exists: they were never added, or were removed after their retention period.`,
  multiplexedIdsMismatch: (param: string) =>
    `A @JobEvents route with idsQuery '${param}' must return the job ids of its '${param}' query (e.g. \`ids.split(',')\`), in any order: the guard checked those ids and the resume cursor holds one position per id. Refuse ids in a guard (or throw in the method) instead of dropping them.`,
  graceNotAfterRetry: (graceMs: number, retryMs: number) =>
    `@JobEvents: cancelOnDisconnect.graceMs (${graceMs}) must be longer than retryMs (${retryMs}), or every reconnect would come too late: raise graceMs or lower retryMs.`,
  ioredisMissing: () =>
    "Option 'redis' is set but the optional peer dependency 'ioredis' is not installed: run `npm install ioredis` (5.x), or omit 'redis' for the in-memory backend.",
  promClientMissing: () =>
    "Option 'metrics.registry' is set but the optional peer dependency 'prom-client' cannot be loaded: run `npm install prom-client` (14.x or 15.x), or omit 'metrics'.",
  metricsTaken: (metric: string) =>
    `The Prometheus registry already has a metric '${metric}' that this job queue did not register (two copies of nestjs-job-queue installed?): dedupe the package, or give this module its own registry with 'metrics: { registry }', or set 'metrics: false'.`,
  invalidHandlerOption: (name: string, option: string, rule: string, value: unknown) =>
    `@JobHandler('${name}'): ${option} must be ${rule}; got ${describeValue(value)}.`,
  requestScopedHandler: (source: string) =>
    `@JobHandler on ${source} is ignored: its provider is request-scoped (or depends on one), so there is no instance to run jobs on. Make the provider a singleton (the default scope) and inject request data into the job instead.`,
  // --- operations: queue events, schedules ---
  invalidHookEventType: (type: unknown) =>
    `Event type ${describeValue(type)} (of @OnJobEvent or a queueEvents filter) is invalid: use a lifecycle type (queued, active, progress, retrying, stalled, completed, failed, cancelled) or a custom type of 1-64 letters, digits, '.', '_', ':' or '-'.`,
  hookFailed: (source: string, type: string, jobId: string, why: string) =>
    `@OnJobEvent('${type}') hook ${source} threw for job '${jobId}': ${why} (the job is unaffected).`,
  invalidScheduleId: (id: unknown) =>
    `Schedule id ${describeValue(id)} is invalid: use 1-150 characters of letters, digits, '.', '_', ':' or '-'.`,
  scheduleNeedsOneKind: (opts: unknown) =>
    `A schedule needs exactly one of 'cron' and 'everyMs'; got ${describeValue(opts)}.`,
  invalidCron: (cron: string, why: string) =>
    `Option 'cron' ${describeValue(cron)} is not a valid 5- or 6-field cron expression (${why}): e.g. '0 3 * * *' (03:00 daily) or '*/10 * * * * *' (every 10 s).`,
  invalidTimeZone: (tz: unknown) =>
    `Option 'tz' must be an IANA time zone such as 'UTC' or 'Europe/Berlin'; got ${describeValue(tz)}.`,
  invalidCursor: (cursor: unknown) =>
    `List cursor ${describeValue(cursor)} is invalid: pass the 'cursor' of the previous page of the same list (same state and name), or omit it to start over.`,
  dashboardGuardsMissing: () =>
    `JobQueueDashboardModule.forRoot() needs the option 'guards': the dashboard can cancel, retry and remove jobs, so pass the guards ` +
    `that protect it (e.g. guards: [AdminGuard]), or an explicit 'guards: []' to run it open (in development only).`,
  dashboardPageMissing: (file: string) =>
    `The dashboard page was not found at ${file}: build with 'npm run build', which copies lib/dashboard/page next to the compiled module.`,
  removed: (id: string) => `Job '${id}' was removed (remove() or clean()): its record and events are gone.`,
} as const;

/** Longest rendering of a bad value inside a message (a huge string must not make a huge error). */
const MAX_SHOWN = 120;

/**
 * A bad value as message text. Never throws, whatever the value (BigInt, cyclic, a Proxy, a
 * throwing toString): building the message of a typed error must not become another error.
 */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text =
      typeof value === 'bigint'
        ? `${value}n`
        : typeof value === 'symbol'
          ? value.toString()
          : (JSON.stringify(value) ?? String(value));
  } catch {
    text = describeUnserializable(value);
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}… (${text.length} characters)` : text;
}

function describeUnserializable(value: unknown): string {
  try {
    return Array.isArray(value) ? 'an array' : `a ${Object.prototype.toString.call(value).slice(8, -1)}`;
  } catch {
    return `a ${typeof value}`;
  }
}
