/** Every user-facing message in one place, each saying what was wrong and what to do. */
export const Messages = {
  invalidName: (name: unknown) =>
    `Job name ${JSON.stringify(name)} is invalid: use 1-100 characters of letters, digits, '.', '_', ':' or '-'.`,
  invalidJobId: (id: unknown) =>
    `Job id ${JSON.stringify(id)} is invalid: use 1-200 characters of letters, digits, '.', '_', ':' or '-'.`,
  invalidOption: (option: string, rule: string, value: unknown) =>
    `Option '${option}' must be ${rule}; got ${safeString(value)}.`,
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
    `Event type ${JSON.stringify(type)} is invalid: use 1-64 characters of letters, digits, '.', '_', ':' or '-'.`,
  invalidEventId: (id: unknown) =>
    `Event id ${JSON.stringify(id)} is invalid: pass an id taken from a JobEvent (form '<ms>-<seq>') or '0'.`,
  queueFull: (max: number) =>
    `The queue already holds ${max} waiting jobs (maxWaiting): retry later, or raise 'maxWaiting'.`,
  drained: () => `The job queue is shutting down and accepts no new jobs: retry on another instance.`,
  notFound: (id: string) =>
    `No job with id '${id}': it was never added, or it was removed after its retention period.`,
  duplicateHandler: (name: string, first: string, second: string) =>
    `Two @JobHandler('${name}') methods were found (${first} and ${second}): give each job name exactly one handler.`,
  waitForTimeout: (id: string, ms: number) => `Job '${id}' did not finish within ${ms} ms.`,
  overdueHandler: (jobId: string, name: string, why: string) =>
    `The handler of job '${jobId}' ('${name}') still runs although its attempt ended (${why}): it keeps its concurrency slot ` +
    `until it returns. Make the handler honour ctx.signal (e.g. call ctx.signal.throwIfAborted() between steps).`,
  scriptsMissing: (dir: string) =>
    `The Redis backend's Lua scripts were not found in ${dir}: build with 'npm run build', which copies lib/backends/redis/scripts next to the compiled redis-scripts.js.`,
  /** `times` is a number, or '%d' for the Redis script to fill in. */
  stalled: (times: number | string) =>
    `stalled ${times} time(s): its worker lost the lease (died or froze) more often than watchdog.maxStalls allows; retry it, or raise watchdog.maxStalls`,
  redisUnreachable: (cause: string) =>
    `Could not reach Redis while starting the job queue (${cause}): start Redis, or fix option 'redis' (URL, options or instance).`,
  corruptRecord: (id: string, why: string) => `Job record '${id}' is corrupt (${why}); it was skipped.`,
  jobIdsQuery: (param: string) =>
    `Query parameter '${param}' must list the job ids to stream, comma-separated, e.g. ?${param}=a,b.`,
  jobIdList: (max: number) =>
    `A stream of many jobs takes 1-${max} distinct job ids: split longer lists over several streams.`,
  eventCursor: (count: number) =>
    `The resume cursor (Last-Event-ID or ?lastEventId=) must hold ${count} event ids joined by '_', one per job in the order of the ids: pass the id of the last message you received.`,
  ioredisMissing: () =>
    "Option 'redis' is set but the optional peer dependency 'ioredis' is not installed: run `npm install ioredis` (5.x), or omit 'redis' for the in-memory backend.",
  promClientMissing: () =>
    "Option 'metrics.registry' is set but the optional peer dependency 'prom-client' cannot be loaded: run `npm install prom-client` (14.x or 15.x), or omit 'metrics'.",
  metricsTaken: (metric: string) =>
    `The Prometheus registry already has a metric '${metric}' that this job queue did not register (two copies of nestjs-job-queue installed?): dedupe the package, or give this module its own registry with 'metrics: { registry }', or set 'metrics: false'.`,
  requestScopedHandler: (source: string) =>
    `@JobHandler on ${source} is ignored: its provider is request-scoped (or depends on one), so there is no instance to run jobs on. Make the provider a singleton (the default scope) and inject request data into the job instead.`,
} as const;

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value) ?? value);
  } catch {
    return String(value);
  }
}
