import { RedisServerHandle, startRedisServer } from './support/redis-server';
import { SampleProcess, within } from './support/sample-process';
import { SseClient, request } from './support/sse-client';

/** The samples here drain for 2 s (JQ_DRAIN_TIMEOUT_MS); a process that exits later than this is hanging. */
const EXIT_HANG_DETECTOR_MS = 30_000;
/** Process starts, the drain and the hang detectors. */
const TEST_TIMEOUT_MS = 120_000;
/** A build that outlasts the drain: its first step takes a minute. */
const SLOW = { steps: 3, stepMs: 60_000 };

describe.each(['memory', 'redis'] as const)('sample shutdown with an open event stream (%s)', (backend) => {
  let redis: RedisServerHandle | undefined;
  let env: Record<string, string>;
  const processes: SampleProcess[] = [];
  const clients: SseClient[] = [];

  beforeAll(async () => {
    env = { REDIS_URL: '', JQ_DRAIN_TIMEOUT_MS: '2000' };
    if (backend === 'redis') {
      redis = await startRedisServer();
      env = { REDIS_URL: redis.url, JQ_PREFIX: redis.prefix, JQ_DRAIN_TIMEOUT_MS: '2000' };
    }
  });

  afterAll(async () => {
    for (const client of clients) client.destroy();
    for (const proc of processes) proc.kill();
    await Promise.all(processes.map((proc) => proc.exited));
    await redis?.stop();
  });

  async function startSample(): Promise<SampleProcess> {
    const proc = await SampleProcess.start(env);
    processes.push(proc);
    return proc;
  }

  async function openStream(url: string, headers?: Record<string, string>): Promise<SseClient> {
    const client = await SseClient.open(url, headers);
    clients.push(client);
    return client;
  }

  if (backend === 'memory') {
    it(
      'SIGTERM ends the stream when draining begins, and the process exits',
      async () => {
        const sample = await startSample();
        const { json: build } = await request('POST', `${sample.base}/builds`, SLOW);
        const client = await openStream(`${sample.base}/builds/${build.id}/events`);
        await client.waitForEvent('progress'); // running, and the next step is a minute away

        sample.child.kill('SIGTERM');
        await within(client.ended, EXIT_HANG_DETECTOR_MS, 'the event stream');
        // The stream ended while the job was draining, not because the job ended: no terminal event,
        // so an EventSource reconnects (to another process) and resumes with Last-Event-ID.
        expect(sample.alive).toBe(true);
        expect(client.events.map((m) => m.event)).toEqual(['queued', 'active', 'token', 'progress']);

        const exit = await within(sample.exited, EXIT_HANG_DETECTOR_MS, 'the process exit');
        expect(exit).toEqual({ code: null, signal: 'SIGTERM' }); // Nest re-raises the signal after closing
      },
      TEST_TIMEOUT_MS,
    );
  } else {
    it(
      'the client resumes on the other process with no gap or duplicate, and the build goes on there',
      async () => {
        // The build starts while the first process is alone, so that is where it runs.
        const draining = await startSample();
        const { json: build } = await request('POST', `${draining.base}/builds`, SLOW);
        const first = await openStream(`${draining.base}/builds/${build.id}/events`);
        await first.waitForEvent('progress');
        const other = await startSample();

        draining.child.kill('SIGTERM');
        await within(first.ended, EXIT_HANG_DETECTOR_MS, 'the event stream');
        expect(draining.alive).toBe(true); // ended when the drain began, not at the exit
        const seen = first.events;
        const resumed = await openStream(`${other.base}/builds/${build.id}/events`, {
          'last-event-id': seen.at(-1)!.id!,
        });
        expect(resumed.status).toBe(200);
        await within(draining.exited, EXIT_HANG_DETECTOR_MS, 'the process exit');

        // Handed back at the end of the drain, the build runs again on the other process.
        await resumed.waitFor(
          () => resumed.events.filter((m) => m.event === 'progress').length >= 1,
          EXIT_HANG_DETECTOR_MS,
        );
        const history = (await request('GET', `${other.base}/builds/${build.id}/poll?max=1000`)).json.events as Array<{
          id: string;
        }>;
        expect([...seen, ...resumed.events].map((m) => m.id)).toEqual(history.map((e) => e.id));
      },
      TEST_TIMEOUT_MS,
    );
  }
});
