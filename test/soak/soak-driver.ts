import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import Redis from 'ioredis';
import { Subscription } from 'rxjs';
import { AddOptions, CancelResult, JobEvent, JobQueueModule, JobQueueModuleOptions, JobQueueService } from '../../lib';
import { startPrivateRedisServer } from '../support/redis-server';
import { checkInvariants, JobRecordOnServer, SoakObservations } from './soak-invariants';
import type { SoakJobData, SoakReport } from './soak-protocol';
import { SoakWorker } from './soak-worker';

/** How long a soak runs and how hard. */
export interface SoakSettings {
  /** Seconds of adding jobs under faults (the settle and the checks come after). */
  seconds: number;
  jobsPerSecond: number;
  /** Progress lines go here (the CLI prints them; the jest spec stays quiet). */
  log?: (line: string) => void;
}

export interface SoakResult {
  jobs: number;
  faults: Record<'kill' | 'stop' | 'pause' | 'clientkill' | 'restart', number>;
  violations: string[];
  /** The one-line summary: `soak: jobs N, faults kill a stop b pause c clientkill d restart e, violations V`. */
  summary: string;
}

const WORKERS = 3;
const PREFIX = 'soak';
/** Short leases and sweeps so crashed and frozen workers' jobs come back within the run. */
const QUEUE_OPTIONS: JobQueueModuleOptions = {
  prefix: PREFIX,
  leaseMs: 1_500,
  cancelGraceMs: 300,
  drainTimeoutMs: 1_000,
  watchdog: { intervalMs: 300, clientTimeoutMs: 2_500 },
  events: { maxLen: 10_000, retentionMs: 3_600_000 },
};
/** After the last add: how long every job gets to reach a terminal state. */
const SETTLE_MS = 30_000;

const random = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
const chance = (p: number) => Math.random() < p;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the soak: a private Redis with persistence (appendonly), 3 worker processes, and this
 * process as the driver adding jobs, cancelling, streaming, and injecting faults. Resolves with
 * the figures and every invariant violation found (see soak-invariants.ts).
 */
export async function runSoak({ seconds, jobsPerSecond, log = () => undefined }: SoakSettings): Promise<SoakResult> {
  const redis = await startPrivateRedisServer(['--appendonly', 'yes', '--appendfsync', 'always'], '');
  const admin = new Redis(redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  admin.on('error', () => undefined); // the restart makes it fail on purpose; it reconnects and its commands wait

  const moduleOptions = { ...QUEUE_OPTIONS, redis: redis.url };
  const seen: SoakObservations = { added: new Map(), runs: [], cancels: new Map(), streams: new Map() };
  const faults: SoakResult['faults'] = { kill: 0, stop: 0, pause: 0, clientkill: 0, restart: 0 };
  const onReport = (report: SoakReport) => {
    if (report.t === 'start' || report.t === 'end') seen.runs.push(report);
  };
  const baselineClients = await clientCount(admin);
  const workers = await Promise.all(Array.from({ length: WORKERS }, () => SoakWorker.start(moduleOptions, onReport)));
  const driver = await startDriver({ ...moduleOptions, worker: false });
  const jobs = driver.get(JobQueueService);
  const subscriptions: Subscription[] = [];
  /** Workers started in place of killed ones (started in the background: the faults go on meanwhile). */
  const replacements: Array<Promise<void>> = [];
  let stopping = false;

  let faultError: unknown;
  const faultLoop = (async () => {
    // Early enough that the append-only file is still small: a restart must not wait minutes for the load.
    const restartAt = Date.now() + Math.min(seconds / 2, 30) * 1000;
    let restarted = false;
    while (!stopping) {
      await sleep(random(1_200, 2_500));
      if (stopping) break;
      if (!restarted && Date.now() >= restartAt) {
        restarted = true;
        faults.restart++;
        log('fault: redis restart');
        await redis.restart();
        continue;
      }
      const kind = (['kill', 'stop', 'pause', 'clientkill'] as const)[random(0, 3)];
      if (await injectFault(kind, { workers, admin, moduleOptions, onReport, log, replacements })) faults[kind]++;
    }
    await Promise.all(replacements);
  })().catch((err: unknown) => {
    faultError = err;
    stopping = true;
  });

  const deadline = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < deadline) {
    const batch = Math.max(1, Math.round(jobsPerSecond / 10));
    for (let i = 0; i < batch; i++) void addOne(`soak-${++n}`);
    await sleep(100);
  }
  stopping = true;
  await faultLoop;
  for (const worker of workers) if (worker.stopped) worker.thaw();
  log(`added ${seen.added.size} jobs; settling`);

  await settle(admin, seen, SETTLE_MS);
  const records = await readRecords(admin, jobs, [...seen.added.keys()]);
  const violations = checkInvariants(seen, records, Date.now());
  if (faultError)
    violations.push(
      `the soak itself failed injecting a fault: ${faultError instanceof Error ? faultError.message : String(faultError)}`,
    );

  for (const sub of subscriptions) sub.unsubscribe();
  await Promise.all(workers.map((worker) => worker.close(10_000)));
  await driver.close();
  const clientsAfter = await waitForClientCount(admin, baselineClients);
  if (clientsAfter !== baselineClients)
    violations.push(
      `connections: ${clientsAfter} clients on Redis after every process closed, baseline ${baselineClients}`,
    );
  admin.disconnect();
  await redis.stop();

  const summary =
    `soak: jobs ${seen.added.size}, faults kill ${faults.kill} stop ${faults.stop} pause ${faults.pause} ` +
    `clientkill ${faults.clientkill} restart ${faults.restart}, violations ${violations.length}`;
  return { jobs: seen.added.size, faults, violations, summary };

  /** Adds one random job and, for some, a cancel after a while and an event subscriber. */
  async function addOne(id: string): Promise<void> {
    const attempts = chance(0.3) ? random(2, 3) : 1;
    const stubborn = chance(0.03);
    const data: SoakJobData = {
      steps: stubborn ? 3 : random(1, 5),
      stepMs: stubborn ? 200 : random(5, 60),
      failAttempts: chance(0.3) ? random(1, attempts) : 0,
      stubborn,
    };
    const opts: AddOptions = {
      jobId: id,
      priority: random(-3, 3),
      ...(chance(0.3) && { delayMs: random(1, 1_500) }),
      attempts,
      ...(attempts > 1 && { backoff: { type: 'fixed' as const, delayMs: 50 } }),
      ...((stubborn || chance(0.15)) && { timeoutMs: 150 }),
      ...(chance(0.1) && { watchClient: true }),
    };
    try {
      await jobs.add('soak', data, opts);
    } catch {
      // Redis down or paused past the client's patience: the job may or may not exist; the checker reads it.
      seen.added.set(id, { opts, confirmed: false });
      return;
    }
    seen.added.set(id, { opts, confirmed: true });
    if (chance(0.1) || (opts.watchClient && chance(0.5))) subscribe(id);
    if (chance(0.1)) {
      await sleep(random(0, 400));
      try {
        const result: CancelResult = await jobs.cancel(id, 'soak');
        seen.cancels.set(id, result);
      } catch {
        // Not answered: no claim to check.
      }
    }
  }

  function subscribe(id: string): void {
    const stream = { events: [] as JobEvent[], completed: false, error: undefined as string | undefined };
    seen.streams.set(id, stream);
    subscriptions.push(
      jobs.events(id).subscribe({
        next: (event) => stream.events.push(event),
        error: (err: Error) => (stream.error = err.message),
        complete: () => (stream.completed = true),
      }),
    );
  }
}

async function startDriver(options: JobQueueModuleOptions): Promise<INestApplicationContext> {
  @Module({ imports: [JobQueueModule.forRoot(options)] })
  class SoakDriverModule {}
  return NestFactory.createApplicationContext(SoakDriverModule, { logger: false });
}

interface FaultContext {
  workers: SoakWorker[];
  admin: Redis;
  moduleOptions: Record<string, unknown>;
  onReport: (report: SoakReport) => void;
  log: (line: string) => void;
  replacements: Array<Promise<void>>;
}

/** Injects one fault; false when no worker could take it (all killed or frozen right now). */
async function injectFault(
  kind: 'kill' | 'stop' | 'pause' | 'clientkill',
  { workers, admin, moduleOptions, onReport, log, replacements }: FaultContext,
): Promise<boolean> {
  const running = workers.filter((worker) => worker.alive && !worker.stopped);
  const victim = running[random(0, running.length - 1)];
  switch (kind) {
    case 'kill': {
      if (!victim) return false;
      log(`fault: SIGKILL worker ${victim.pid}`);
      await victim.kill();
      replacements.push(
        SoakWorker.start(moduleOptions, onReport).then((worker) => void (workers[workers.indexOf(victim)] = worker)),
      );
      return true;
    }
    case 'stop':
      // Frozen past its lease: its jobs are reclaimed; when it thaws, its late writes must be fenced.
      if (!victim || running.length < 2) return false;
      log(`fault: SIGSTOP worker ${victim.pid}`);
      victim.freeze();
      setTimeout(() => victim.thaw(), random(2_000, 4_000));
      return true;
    case 'pause':
      log('fault: CLIENT PAUSE 700 ALL');
      await admin.call('CLIENT', 'PAUSE', '700', 'ALL');
      return true;
    case 'clientkill':
      log('fault: CLIENT KILL every normal and pubsub connection');
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal');
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      return true;
  }
}

/** Waits until every job is finished (or the time is up: the checker reports what is not). */
async function settle(admin: Redis, seen: SoakObservations, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  const ids = [...seen.added.keys()];
  while (Date.now() < until) {
    const states = await Promise.all(ids.map((id) => admin.hget(`{${PREFIX}}:job:${id}`, 'state')));
    const open = states.filter((state, i) =>
      state === null ? seen.added.get(ids[i])!.confirmed : !['completed', 'failed', 'cancelled'].includes(state),
    );
    if (open.length === 0) {
      const streams = [...seen.streams.values()];
      if (streams.every((stream) => stream.completed || stream.error !== undefined)) return;
    }
    await sleep(250);
  }
}

/**
 * Everything the checker needs from the server, per job: record, index memberships, full history
 * (read with `poll`: a job that only ran has no stream, its events are derived from its record).
 */
async function readRecords(
  admin: Redis,
  jobs: JobQueueService,
  ids: string[],
): Promise<Map<string, JobRecordOnServer>> {
  const base = `{${PREFIX}}:`;
  const records = new Map<string, JobRecordOnServer>();
  for (const id of ids) {
    const record = await admin.hgetall(`${base}job:${id}`);
    const name = record.name ?? 'soak';
    const [waiting, delayed, active, completed, failed, cancelled] = await Promise.all(
      [`waiting:${name}`, `delayed:${name}`, 'active', 'completed', 'failed', 'cancelled'].map((key) =>
        admin.zscore(`${base}${key}`, id),
      ),
    );
    const { events } = await jobs.poll(id, { max: 1000 });
    records.set(id, {
      record: Object.keys(record).length > 0 ? record : null,
      indexes: { waiting, delayed, active, completed, failed, cancelled },
      events: events.map((event) => ({ id: event.id, type: event.type })),
    });
  }
  return records;
}

async function clientCount(admin: Redis): Promise<number> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list.trim().split('\n').length;
}

/** Closed connections leave the server's list shortly after the processes exit. */
async function waitForClientCount(admin: Redis, expected: number): Promise<number> {
  let count = await clientCount(admin);
  for (let i = 0; i < 50 && count !== expected; i++) {
    await sleep(100);
    count = await clientCount(admin);
  }
  return count;
}
