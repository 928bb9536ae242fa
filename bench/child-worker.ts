/**
 * A worker process for the cross-process scenarios: a Nest app with the job queue on Redis and
 * the handlers named in env BENCH_CHILD, reporting to the parent over IPC (bench/protocol.ts).
 * Started by bench/child-handle.ts as `node -r ts-node/register/transpile-only bench/child-worker.ts`.
 */
import { Cluster } from 'ioredis';
import type { Job, JobContext } from '../lib';
import { now, sleep } from './clock';
import type { ChildConfig, ChildHandlerName, ChildMessage, EmitterData, ParentMessage } from './protocol';
import { Gate, HandlerSpec, QueueApp, createQueueApp } from './queue-app';

const send = (message: ChildMessage) => process.send?.(message);
const gate = new Gate();

const bodies: Record<ChildHandlerName, HandlerSpec['run']> = {
  async noop() {
    if (!gate.isOpen) await gate.wait();
  },
  async probe(job: Job) {
    send({ type: 'started', jobId: job.id, at: now() });
  },
  async hold(job: Job, ctx: JobContext) {
    await new Promise<void>((resolve) => {
      ctx.signal.addEventListener(
        'abort',
        () => {
          send({ type: 'aborted', jobId: job.id, at: now() });
          resolve();
        },
        { once: true },
      );
      send({ type: 'started', jobId: job.id, at: now() });
    });
    throw ctx.signal.reason;
  },
  async emitter(job: Job<EmitterData>, ctx: JobContext) {
    const { count, gapMs, delayMs } = job.data;
    await sleep(delayMs);
    for (let i = 0; i < count && !ctx.signal.aborted; i++) {
      void ctx.emit('tick', { i, t: now() });
      await sleep(gapMs);
    }
  },
};

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_CHILD ?? '{}') as ChildConfig;
  const handlers: Record<string, HandlerSpec> = {};
  for (const [name, concurrency] of Object.entries(config.handlers)) {
    handlers[name] = { concurrency: concurrency!, run: bodies[name as ChildHandlerName] };
  }
  const redis = config.cluster
    ? new Cluster(config.cluster, { redisOptions: { connectionName: config.redis.connectionName } })
    : config.redis;
  const queue: QueueApp = await createQueueApp({
    redis,
    prefix: config.prefix,
    handlers,
    module: { shards: config.shards ?? 1 },
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    gate.open();
    const force = setTimeout(() => process.exit(0), 5_000);
    force.unref();
    await queue.close().catch(() => undefined);
    if (redis instanceof Cluster) redis.disconnect();
    process.exit(0);
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'ping') send({ type: 'pong', seq: message.seq, at: now() });
    else if (message.type === 'open-gate') gate.open();
    else if (message.type === 'stop') void stop();
  });
  // The parent died or hung up: never outlive it.
  process.on('disconnect', () => void stop());
  send({ type: 'ready', pid: process.pid });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
});
