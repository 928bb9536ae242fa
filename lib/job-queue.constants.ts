/** Injection token of the resolved options (defaults applied). */
export const JOB_QUEUE_OPTIONS = Symbol('job-queue:options');
/** Injection token of the QueueBackend in use. */
export const JOB_QUEUE_BACKEND = Symbol('job-queue:backend');
/** Metadata key set by @JobHandler. */
export const JOB_HANDLER_METADATA = 'job-queue:handler';
/** Metadata key set by @JobEvents. */
export const JOB_EVENTS_METADATA = 'job-queue:events';
