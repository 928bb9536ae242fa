import type { AddOptions, CancelResult, JobEvent } from '../../lib';
import { SOAK_CONCURRENCY, type SoakReport } from './soak-protocol';

/** What the driver saw during the run: its adds, the workers' run reports, cancel answers, streams. */
export interface SoakObservations {
  /** confirmed: add() resolved; otherwise it failed under a fault and the job may or may not exist. */
  added: Map<string, { opts: AddOptions; confirmed: boolean }>;
  runs: Array<Extract<SoakReport, { t: 'start' | 'end' }>>;
  cancels: Map<string, CancelResult>;
  /** Subscribers opened at add time with `events(id)` (from the start). */
  streams: Map<string, { events: JobEvent[]; completed: boolean; error?: string }>;
}

/** One job as the server holds it at the end: record, score in each index (null = absent), stream. */
export interface JobRecordOnServer {
  record: Record<string, string> | null;
  indexes: Record<'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'cancelled', string | null>;
  events: Array<{ id: string; type: string }>;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * The soak's invariants, each violation as one line naming the job:
 * - every job added exists and is in exactly one state (record state = the one index it is in);
 * - every job reached a terminal state (the settle waited for it);
 * - none is active without a live lease;
 * - no job finished twice: one terminal event, of the job's final state; a completed job's
 *   result comes from a handler run that returned (fencing held);
 * - a cancel answered 'cancelled' or 'cancelling' ended the job cancelled;
 * - no handler ran beyond its concurrency in any process;
 * - every subscriber that stayed connected saw the job's stream in order, without gaps or duplicates.
 */
export function checkInvariants(seen: SoakObservations, server: Map<string, JobRecordOnServer>, now: number): string[] {
  const violations: string[] = [];
  const returnedRuns = new Map<string, Set<string>>();
  /** Runs in progress per process, in report order (IPC keeps each process's order). */
  const inProgress = new Map<number, Map<string, string>>();
  for (const run of seen.runs) {
    if (!inProgress.has(run.pid)) inProgress.set(run.pid, new Map());
    const mine = inProgress.get(run.pid)!;
    if (run.t === 'start') {
      mine.set(run.runId, `${run.jobId}#${run.attempt}${describeJob(seen, run.jobId)}`);
      if (run.running > SOAK_CONCURRENCY) {
        violations.push(
          `concurrency: process ${run.pid} ran ${run.running} soak handlers at once (limit ${SOAK_CONCURRENCY}): ${[...mine.values()].join(', ')}`,
        );
      }
    } else mine.delete(run.runId);
    if (run.t === 'end' && run.outcome === 'returned') {
      if (!returnedRuns.has(run.jobId)) returnedRuns.set(run.jobId, new Set());
      returnedRuns.get(run.jobId)!.add(run.runId);
    }
  }

  for (const [id, { confirmed }] of seen.added) {
    const job = server.get(id)!;
    if (!job.record) {
      if (confirmed) violations.push(`${id}: lost (add resolved, no record now)`);
      continue;
    }
    const state = job.record.state;
    const inIndexes = Object.entries(job.indexes)
      .filter(([, score]) => score !== null)
      .map(([index]) => index);
    if (inIndexes.length !== 1 || inIndexes[0] !== state)
      violations.push(`${id}: state '${state}' but in index(es) [${inIndexes.join(', ')}]`);
    if (state === 'active' && Number(job.indexes.active) < now) violations.push(`${id}: active without a live lease`);
    if (!TERMINAL.has(state)) violations.push(`${id}: still '${state}' after the settle time`);

    const terminalEvents = job.events.filter((event) => TERMINAL.has(event.type));
    if (TERMINAL.has(state) && (terminalEvents.length !== 1 || terminalEvents[0].type !== state)) {
      violations.push(`${id}: ended '${state}' with terminal events [${terminalEvents.map((e) => e.type).join(', ')}]`);
    }
    if (state === 'completed') {
      const runId = parseResultRunId(job.record.result);
      if (!runId || !returnedRuns.get(id)?.has(runId))
        violations.push(`${id}: completed with result ${job.record.result}, not from a run that returned`);
    }
    const answer = seen.cancels.get(id);
    if ((answer === 'cancelled' || answer === 'cancelling') && state !== 'cancelled') {
      violations.push(`${id}: cancel() answered '${answer}' but the job ended '${state}'`);
    }

    const stream = seen.streams.get(id);
    if (stream && stream.error === undefined) {
      const got = stream.events.map((event) => event.id);
      const want = job.events.map((event) => event.id);
      if (!stream.completed) violations.push(`${id}: its event stream did not complete`);
      else if (got.join() !== want.join())
        violations.push(
          `${id}: subscriber saw [${stream.events.map((e) => `${e.id} ${e.type}`).join(', ')}], stream holds [${job.events.map((e) => `${e.id} ${e.type}`).join(', ')}]`,
        );
    }
  }
  return violations;
}

/** The options that explain a run's behaviour, for violation lines. */
function describeJob(seen: SoakObservations, jobId: string): string {
  const opts = seen.added.get(jobId)?.opts;
  const notes = [opts?.timeoutMs && `timeout ${opts.timeoutMs}`, seen.cancels.has(jobId) && 'cancelled'].filter(
    Boolean,
  );
  return notes.length > 0 ? ` (${notes.join(', ')})` : '';
}

function parseResultRunId(result: string | undefined): string | undefined {
  try {
    return result === undefined ? undefined : (JSON.parse(result) as { runId?: string })?.runId;
  } catch {
    return undefined;
  }
}
