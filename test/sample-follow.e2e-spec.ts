import { CLIENT_DISCONNECTED_REASON } from '../lib';
import { RedisServerHandle, startRedisServer } from './support/redis-server';
import { SampleProcess } from './support/sample-process';
import { SseClient, request } from './support/sse-client';

/** Process starts and the grace waits; each grace is 1 s (TEST_GRACE_MS). */
const TEST_TIMEOUT_MS = 60_000;
/** A build that runs until the test ends it: its first step takes a minute. */
const SLOW = { steps: 3, stepMs: 60_000 };

/**
 * cancelOnDisconnect across processes on Redis: a browser's reconnect may land on another process
 * than the one its client left, and the job must then go on; a job nobody comes back for is
 * cancelled wherever it runs.
 */
describe('cancelOnDisconnect across two sample processes (redis)', () => {
  let redis: RedisServerHandle;
  let a: SampleProcess;
  let b: SampleProcess;
  const clients: SseClient[] = [];
  const started: string[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    const env = { REDIS_URL: redis.url, JQ_PREFIX: redis.prefix, JQ_DRAIN_TIMEOUT_MS: '2000' };
    [a, b] = await Promise.all([
      SampleProcess.start(env, { withTestRoutes: true }),
      SampleProcess.start(env, { withTestRoutes: true }),
    ]);
  }, TEST_TIMEOUT_MS);

  // The builds run until cancelled: each test's builds are cancelled, and have ended, before the next test.
  afterEach(async () => {
    const ids = started.splice(0);
    await Promise.all(ids.map((id) => request('POST', `${a.base}/builds/${id}/cancel`).catch(() => undefined)));
    for (const client of clients.splice(0)) client.destroy();
    // A build's event stream ends after its terminal event.
    await Promise.all(ids.map((id) => SseClient.open(`${a.base}/builds/${id}/events`).then((end) => end.ended)));
  });

  afterAll(async () => {
    for (const proc of [a, b]) proc?.kill();
    await Promise.all([a, b].map((proc) => proc?.exited));
    await redis?.stop();
  });

  async function startBuild(): Promise<string> {
    const res = await request('POST', `${a.base}/builds`, SLOW);
    expect(res.status).toBe(201);
    started.push(res.json.id);
    return res.json.id;
  }

  async function openStream(url: string, headers?: Record<string, string>): Promise<SseClient> {
    const client = await SseClient.open(url, headers);
    clients.push(client);
    expect(client.status).toBe(200);
    return client;
  }

  /** Resolves once the stream sent its first heartbeat (its second message without data). */
  const firstHeartbeat = (client: SseClient) => client.waitFor(() => client.silent.length >= 2);

  it(
    'a client that reconnects to the other process within the grace keeps its build running',
    async () => {
      const id = await startBuild();
      const left = await openStream(`${a.base}/test-builds/${id}/follow`);
      await left.waitForEvent('active');
      left.destroy();
      const back = await openStream(`${b.base}/test-builds/${id}/follow`, { 'last-event-id': left.events.at(-1)!.id! });
      // Opened after the disconnect: its first heartbeat comes after the grace on A expired. A cancel
      // would have ended this stream with a 'cancelled' event before.
      await firstHeartbeat(back);
      expect(back.events.map((m) => m.event)).not.toContain('cancelled');
      expect((await request('GET', `${b.base}/builds/${id}`)).json).toMatchObject({ state: 'active' });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a stream open on the other process since before the disconnect keeps the build running',
    async () => {
      const id = await startBuild();
      const other = await openStream(`${b.base}/test-builds/${id}/follow`);
      await other.waitForEvent('active');
      const left = await openStream(`${a.base}/test-builds/${id}/follow`);
      await left.waitForEvent('active');
      left.destroy();
      const witness = await openStream(`${b.base}/test-builds/${id}/watch`);
      await firstHeartbeat(witness); // after the grace on A expired
      expect(other.events.map((m) => m.event)).not.toContain('cancelled');
      expect((await request('GET', `${a.base}/builds/${id}`)).json).toMatchObject({ state: 'active' });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a client nobody comes back for gets its build cancelled, wherever it runs',
    async () => {
      const id = await startBuild();
      // A stream on a route without cancelOnDisconnect does not count as coming back.
      const witness = await openStream(`${b.base}/test-builds/${id}/watch`);
      const left = await openStream(`${a.base}/test-builds/${id}/follow`);
      await left.waitForEvent('active');
      left.destroy();
      await witness.waitForEvent('cancelled', TEST_TIMEOUT_MS / 2);
      expect((await request('GET', `${b.base}/builds/${id}`)).json).toMatchObject({
        state: 'cancelled',
        cancelReason: CLIENT_DISCONNECTED_REASON,
      });
    },
    TEST_TIMEOUT_MS,
  );
});
