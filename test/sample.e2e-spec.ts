import { Controller, Get, Injectable, Logger, Module, Param, Query } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom } from 'rxjs';
import {
  CLIENT_DISCONNECTED_REASON,
  InvalidJobError,
  JobEvent,
  JobEvents,
  JobHandler,
  JobNotFoundError,
  JobQueueService,
  QueueDrainedError,
  QueueFullError,
  UnrecoverableJobError,
  compareEventIds,
} from '../lib';
import { JOB_STATES } from '../lib/interfaces/job.interface';
import type { QueueBackend } from '../lib/backends/queue-backend.interface';
import { JOB_QUEUE_BACKEND } from '../lib/job-queue.constants';
import { createSampleApp } from '../sample/app.factory';
import { AppModule } from '../sample/app.module';
import { NIGHTLY_REPORT, NightlyReportSchedule } from '../sample/reports/nightly-report.schedule';
import { Deferred, DeferredMap, eventually } from './support/deferred';
import { parsePrometheusText, sampleValue } from './support/prometheus-text';
import { SseClient, SseMessage, request } from './support/sse-client';

/** The cancel-on-disconnect grace of the test route: short, so the tests need not wait long. */
const GRACE_MS = 200;

/** Routes only the tests need: the same @JobEvents with other options, and a route per library error. */
@Controller('test-builds')
class TestStreamsController {
  @JobEvents(':id/heartbeat', { heartbeatMs: 50 })
  heartbeat(@Param('id') id: string) {
    return id;
  }

  /** Heartbeats come after the grace: one on a stream opened later proves the grace decision was taken. */
  @JobEvents(':id/follow', { cancelOnDisconnect: { graceMs: GRACE_MS }, heartbeatMs: GRACE_MS + 100 })
  follow(@Param('id') id: string) {
    return id;
  }

  /** Breaks the rule of multiplexed routes: returns fewer ids than the query lists. */
  @JobEvents('fewer', { idsQuery: 'ids' })
  fewer(@Query('ids') ids: string) {
    return ids.split(',').slice(1);
  }

  @JobEvents(':id/unnamed', { namedEvents: false, retryMs: 1_500 })
  unnamed(@Param('id') id: string) {
    return id;
  }

  @Get('errors/:kind')
  fail(@Param('kind') kind: string): never {
    switch (kind) {
      case 'invalid':
        throw new InvalidJobError('bad input');
      case 'not-found':
        throw new JobNotFoundError('no such job', 'x');
      case 'full':
        throw new QueueFullError('queue full');
      default:
        throw new QueueDrainedError('draining');
    }
  }
}

/** A job that always fails, to see the sample's failure hook log it. */
@Injectable()
class FailingProcessor {
  @JobHandler('test-fail')
  fail(): never {
    throw new UnrecoverableJobError('broken on purpose');
  }
}

@Module({ imports: [AppModule], controllers: [TestStreamsController], providers: [FailingProcessor] })
class E2eModule {}

/** Fast builds: 5 steps, 20 ms apart. Slow ones run until the test cancels them. */
const FAST = { steps: 5, stepMs: 20 };
const SLOW = { steps: 3, stepMs: 60_000 };

describe('sample app over HTTP (in-memory backend)', () => {
  let app: NestExpressApplication;
  let base: string;
  let jobs: JobQueueService;
  const savedRedisUrl = process.env.REDIS_URL;
  const started: string[] = [];
  const clients: SseClient[] = [];
  /** Resolved when the last backend subscription of a job is released. */
  const released = new DeferredMap<void>();

  beforeAll(async () => {
    delete process.env.REDIS_URL; // this suite is about the in-memory backend
    app = await createSampleApp({ module: E2eModule, logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    jobs = app.get(JobQueueService);

    // Count the backend subscriptions per job, to see a disconnect release them.
    const backend = app.get<QueueBackend>(JOB_QUEUE_BACKEND);
    const subscribe = backend.subscribe.bind(backend);
    const open = new Map<string, number>();
    jest.spyOn(backend, 'subscribe').mockImplementation((jobId, after, listener) => {
      const off = subscribe(jobId, after, listener);
      open.set(jobId, (open.get(jobId) ?? 0) + 1);
      let done = false;
      return () => {
        off();
        if (done) return;
        done = true;
        open.set(jobId, open.get(jobId)! - 1);
        if (open.get(jobId) === 0) released.get(jobId).resolve();
      };
    });
  });

  // Each test starts with no build or stream of an earlier one left (the sample runs 4 builds at a
  // time): whatever a test started is cancelled and ended here, passing or failing.
  afterEach(async () => {
    const ids = started.splice(0);
    await Promise.all(ids.map((id) => jobs.cancel(id).catch(() => undefined)));
    await Promise.all(ids.map((id) => jobs.waitFor(id).catch(() => undefined)));
    for (const client of clients.splice(0)) client.destroy();
  });

  afterAll(async () => {
    await app?.close();
    if (savedRedisUrl !== undefined) process.env.REDIS_URL = savedRedisUrl;
  });

  async function startBuild(body: unknown): Promise<{ id: string; state: string; name: string; data: unknown }> {
    const res = await request('POST', `${base}/builds`, body);
    expect(res.status).toBe(201);
    started.push(res.json.id);
    return res.json;
  }

  async function finishedBuild(): Promise<string> {
    const { id } = await startBuild(FAST);
    expect((await jobs.waitFor(id)).state).toBe('completed');
    return id;
  }

  async function runningBuild(): Promise<string> {
    const { id } = await startBuild(SLOW);
    await firstValueFrom(jobs.events(id).pipe(filter((e) => e.type === 'active')));
    return id;
  }

  async function cancelledBuild(): Promise<string> {
    const id = await runningBuild();
    expect(await jobs.cancel(id)).toBe('cancelling');
    expect((await jobs.waitFor(id)).state).toBe('cancelled');
    return id;
  }

  async function openStream(path: string, headers?: Record<string, string>): Promise<SseClient> {
    const client = await SseClient.open(`${base}${path}`, headers);
    clients.push(client);
    return client;
  }

  /** Asserts the wire format of every message and returns the JobEvents they carry. */
  function jobEventsOf(messages: SseMessage[], jobId: string): JobEvent[] {
    return messages.map((m) => {
      expect(m.id).toMatch(/^\d+-\d+$/);
      expect(m.event).toEqual(expect.any(String));
      const event = JSON.parse(m.data!) as JobEvent;
      expect(event).toMatchObject({ id: m.id, type: m.event, jobId, at: expect.any(Number) });
      return event;
    });
  }

  function expectStrictlyIncreasing(ids: string[]): void {
    for (let i = 1; i < ids.length; i++) expect(compareEventIds(ids[i - 1], ids[i])).toBeLessThan(0);
  }

  describe('a build from start to finish', () => {
    /** One build run to its end before these tests (not by one of them), and its events: what they read. */
    let created: { id: string; state: string; name: string; data: unknown };
    let id: string;
    let all: JobEvent[];

    beforeAll(async () => {
      created = await startBuild(FAST);
      id = created.id;
      await jobs.waitFor(id);
      all = (await jobs.poll(id, { max: 1000 })).events;
    });

    it('POST /builds → 201 with the job', () => {
      expect(created).toMatchObject({ id: expect.any(String), name: 'build', state: 'waiting', data: FAST });
    });

    it('GET /builds/:id → the job; unknown id → 404; malformed id → 400', async () => {
      const res = await request('GET', `${base}/builds/${id}`);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ id, name: 'build', data: FAST });

      const unknown = await request('GET', `${base}/builds/no-such-build`);
      expect(unknown.status).toBe(404);
      const malformed = await request('GET', `${base}/builds/bad!id`);
      expect(malformed.status).toBe(400);
      expect(malformed.json.message).toMatch(/id/i);
    });

    it('GET /builds/:id/events streams every event in order and ends after completed', async () => {
      // A build of its own, streamed while it runs.
      const { id } = await startBuild(FAST);
      const client = await openStream(`/builds/${id}/events`);
      expect(client.status).toBe(200);
      expect(client.contentType).toMatch(/^text\/event-stream/);
      await client.ended;

      const streamed = jobEventsOf(client.events, id);
      expectStrictlyIncreasing(streamed.map((e) => e.id));
      const steps = Array.from({ length: FAST.steps }, () => ['token', 'progress']).flat();
      expect(streamed.map((e) => e.type)).toEqual(['queued', 'active', ...steps, 'completed']);
      expect(streamed.filter((e) => e.type === 'progress').map((e) => e.data)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
      expect(streamed.filter((e) => e.type === 'token').map((e) => (e.data as { text: string }).text)).toEqual([
        '[1/5] resolve dependencies',
        '[2/5] compile',
        '[3/5] bundle',
        '[4/5] run tests',
        '[5/5] package',
      ]);
      expect(streamed).toEqual((await jobs.poll(id, { max: 1000 })).events);
      const job = (await request('GET', `${base}/builds/${id}`)).json;
      expect(job).toMatchObject({ state: 'completed', result: { ok: true, steps: 5 }, progress: 1 });
    });

    it('Last-Event-ID resumes with exactly the events after that id', async () => {
      for (const k of [0, 4, all.length - 2]) {
        const client = await openStream(`/builds/${id}/events`, { 'last-event-id': all[k].id });
        expect(client.status).toBe(200);
        await client.ended;
        expect(jobEventsOf(client.events, id)).toEqual(all.slice(k + 1));
      }
    });

    it('a resume at or past the terminal event answers 204 before any stream opens', async () => {
      const past = `${Number(all.at(-1)!.id.split('-')[0]) + 1}-0`;
      for (const headers of [{ 'last-event-id': all.at(-1)!.id }, { 'last-event-id': past }]) {
        const client = await openStream(`/builds/${id}/events`, headers);
        await client.ended;
        expect(client.status).toBe(204);
        expect(client.contentType).toBe('');
        expect(client.body).toBe('');
      }
      const byQuery = await openStream(`/builds/${id}/events?lastEventId=${all.at(-1)!.id}`);
      await byQuery.ended;
      expect(byQuery.status).toBe(204);
    });

    it('?lastEventId= resumes like the header; the header wins when both are given; a bad one is 400', async () => {
      const byQuery = await openStream(`/builds/${id}/events?lastEventId=${all[3].id}`);
      await byQuery.ended;
      expect(byQuery.silent[0].id).toBe(all[3].id); // the browser's resume point from now on
      expect(jobEventsOf(byQuery.events, id)).toEqual(all.slice(4));

      const both = await openStream(`/builds/${id}/events?lastEventId=${all[3].id}`, { 'last-event-id': all[6].id });
      await both.ended;
      expect(jobEventsOf(both.events, id)).toEqual(all.slice(7));

      for (const query of ['lastEventId=nope', 'lastEventId=1-0&lastEventId=2-0']) {
        const bad = await openStream(`/builds/${id}/events?${query}`);
        await bad.ended;
        expect(bad.status).toBe(400);
        expect(JSON.parse(bad.body).message).toMatch(/event id/i);
      }
    });

    it('namedEvents: false sends unnamed messages with the type in data; retryMs sends retry:', async () => {
      const client = await openStream(`/test-builds/${id}/unnamed`);
      await client.ended;
      expect(client.messages[0]).toEqual({ id: '0', retry: '1500' });
      expect(client.events.every((m) => m.event === undefined)).toBe(true);
      const events = client.events.map((m) => JSON.parse(m.data!) as JobEvent);
      expect(events).toEqual(all);
      expect(client.events.map((m) => m.id)).toEqual(all.map((e) => e.id));
    });

    it('GET /builds/:id/poll pages through the same events with next/done', async () => {
      const pages: Array<{ events: JobEvent[]; next: string; done: boolean }> = [];
      let after: string | undefined;
      for (;;) {
        const query = `max=4${after ? `&after=${after}` : ''}`;
        const res = await request('GET', `${base}/builds/${id}/poll?${query}`);
        expect(res.status).toBe(200);
        pages.push(res.json);
        if (res.json.done) break;
        expect(res.json.events).toHaveLength(4);
        expect(res.json.next).toBe(res.json.events[3].id);
        after = res.json.next;
      }
      expect(pages.flatMap((p) => p.events)).toEqual(all);
      expect(pages.length).toBe(Math.ceil(all.length / 4));

      const past = await request('GET', `${base}/builds/${id}/poll?after=${all.at(-1)!.id}`);
      expect(past.json).toEqual({ events: [], next: all.at(-1)!.id, done: true });
    });
  });

  it('a client that disconnects mid-build and resumes gets no duplicate and no gap', async () => {
    const { id } = await startBuild({ steps: 6, stepMs: 30 });
    const first = await openStream(`/builds/${id}/events`);
    await first.waitFor((messages) => messages.length >= 3);
    first.destroy();
    const before = jobEventsOf(first.events, id);

    const resumed = await openStream(`/builds/${id}/events`, { 'last-event-id': before.at(-1)!.id });
    await resumed.ended;
    const after = jobEventsOf(resumed.events, id);
    expect(after.at(-1)!.type).toBe('completed');

    const history = (await request('GET', `${base}/builds/${id}/poll?max=1000`)).json.events as JobEvent[];
    expect([...before, ...after]).toEqual(history);
  });

  describe('one stream for many builds (?ids=)', () => {
    /** The JobEvents of a multiplexed stream's messages, grouped by job, checking the cursor of each. */
    function byJob(messages: SseMessage[], ids: string[]): Map<string, JobEvent[]> {
      const groups = new Map(ids.map((id) => [id, [] as JobEvent[]]));
      for (const m of messages) {
        const event = JSON.parse(m.data!) as JobEvent;
        expect(m.event).toBe(event.type);
        // The cursor holds each job's last event id, in the order of ?ids=: this event's at its job's place.
        expect(m.id!.split('_')[ids.indexOf(event.jobId)]).toBe(event.id);
        groups.get(event.jobId)!.push(event);
      }
      return groups;
    }

    async function historyOf(id: string): Promise<JobEvent[]> {
      return (await request('GET', `${base}/builds/${id}/poll?max=1000`)).json.events;
    }

    it('streams 20 builds over one connection, each in order, and ends when all ended', async () => {
      const ids = await Promise.all(
        Array.from({ length: 20 }, () => startBuild({ steps: 3, stepMs: 20 }).then((j) => j.id)),
      );
      const client = await openStream(`/builds/events?ids=${ids.join(',')}`);
      expect(client.status).toBe(200);
      expect(client.messages[0]).toEqual({ id: ids.map(() => '0').join('_') });
      // The connection does not hold up other requests meanwhile.
      expect((await request('GET', `${base}/builds/${ids[0]}`)).status).toBe(200);
      await client.ended;
      const groups = byJob(client.events, ids);
      for (const id of ids) {
        expect(groups.get(id)).toEqual(await historyOf(id));
        expect(groups.get(id)!.at(-1)!.type).toBe('completed');
      }

      const resumeAtEnd = await openStream(`/builds/events?ids=${ids.join(',')}`, {
        'last-event-id': client.events.at(-1)!.id!,
      });
      await resumeAtEnd.ended;
      expect(resumeAtEnd.status).toBe(204);
    });

    it('one cursor resumes every build where it stopped: no gap, no duplicate', async () => {
      const ids = [(await startBuild({ steps: 4, stepMs: 30 })).id, (await startBuild({ steps: 2, stepMs: 50 })).id];
      const first = await openStream(`/builds/events?ids=${ids.join(',')}`);
      await first.waitFor(() => first.events.length >= 5);
      first.destroy();
      const cursor = first.events.at(-1)!.id!;

      const resumed = await openStream(`/builds/events?ids=${ids.join(',')}&lastEventId=${cursor}`);
      await resumed.ended;
      const [before, after] = [byJob(first.events, ids), byJob(resumed.events, ids)];
      for (const id of ids) expect([...before.get(id)!, ...after.get(id)!]).toEqual(await historyOf(id));
    });

    it('answers 400 for a bad list or cursor and 404 when no build of the list exists, before the stream opens', async () => {
      const { id } = await startBuild(FAST);
      const cases: Array<[string, Record<string, string>, number]> = [
        ['/builds/events', {}, 400],
        [`/builds/events?ids=${id},${id}`, {}, 400],
        [`/builds/events?ids=${id},bad!id`, {}, 400],
        [`/builds/events?ids=${Array.from({ length: 101 }, (_, i) => `b${i}`).join(',')}`, {}, 400],
        [`/builds/events?ids=no-such-build,no-such-build-2`, {}, 404],
        [`/builds/events?ids=no-such-build,no-such-build-2`, { 'last-event-id': '1-0_1-0' }, 404],
        [`/builds/events?ids=${id}`, { 'last-event-id': '0_0' }, 400],
        [`/builds/events?ids=${id}`, { 'last-event-id': 'x' }, 400],
      ];
      for (const [path, headers, status] of cases) {
        const client = await openStream(path, headers);
        await client.ended;
        expect({ path, status: client.status }).toEqual({ path, status });
        expect(client.contentType).toMatch(/^application\/json/);
      }
      await jobs.waitFor(id);
    });

    it('an unknown (or expired) build among others counts as ended: the others stream, and a resume after them is 204', async () => {
      const { id } = await startBuild(FAST);
      const ids = ['no-such-build', id];
      const client = await openStream(`/builds/events?ids=${ids.join(',')}`);
      expect(client.status).toBe(200);
      await client.ended;
      const groups = byJob(client.events, ids);
      expect(groups.get('no-such-build')).toEqual([]);
      expect(groups.get(id)).toEqual(await historyOf(id));

      const resumed = await openStream(`/builds/events?ids=${ids.join(',')}`, {
        'last-event-id': client.events.at(-1)!.id!,
      });
      await resumed.ended;
      expect(resumed.status).toBe(204);
    });

    it('a method that returns other ids than its query fails with 500 before the stream opens', async () => {
      const { id } = await startBuild(FAST);
      const client = await openStream(`/test-builds/fewer?ids=${id},other`);
      await client.ended;
      expect(client.status).toBe(500);
      expect(client.events).toEqual([]);
      await jobs.waitFor(id);
    });
  });

  describe('stream errors answer before the stream opens', () => {
    it('unknown id → 404 with a JSON body, not a 200 event stream', async () => {
      const client = await openStream('/builds/no-such-build/events');
      await client.ended;
      expect(client.status).toBe(404);
      expect(client.contentType).toMatch(/^application\/json/);
      expect(JSON.parse(client.body)).toMatchObject({ statusCode: 404 });
    });

    it('malformed job id or Last-Event-ID → 400', async () => {
      const badId = await openStream('/builds/bad!id/events');
      await badId.ended;
      expect(badId.status).toBe(400);

      const { id } = await startBuild(FAST);
      const badCursor = await openStream(`/builds/${id}/events`, { 'last-event-id': 'not-an-event-id' });
      await badCursor.ended;
      expect(badCursor.status).toBe(400);
      expect(badCursor.contentType).toMatch(/^application\/json/);
      await jobs.waitFor(id);
    });
  });

  it('sends heartbeats, and a disconnect releases the subscription without cancelling', async () => {
    const { id } = await startBuild(SLOW);
    const client = await openStream(`/test-builds/${id}/heartbeat`);
    expect(client.status).toBe(200);
    await client.waitForEvent('progress'); // the first step; the next one is a minute away
    // A heartbeat repeats the last event's id with no data: EventSource dispatches nothing.
    await client.waitFor(() => client.silent.length >= 2);
    expect(client.silent[1]).toEqual({ id: client.events.at(-1)!.id });
    expect(client.events.every((m) => m.id !== undefined && m.event !== undefined)).toBe(true);

    client.destroy();
    await released.get(id).promise; // the interceptor unsubscribed from the backend
    expect((await jobs.get(id))!.state).toBe('active'); // cancelOnDisconnect is off here

    expect(await jobs.cancel(id)).toBe('cancelling');
    expect((await jobs.waitFor(id)).state).toBe('cancelled');
  });

  describe('cancelOnDisconnect with a grace', () => {
    it('a client that does not come back within the grace gets its job cancelled', async () => {
      const { id } = await startBuild(SLOW);
      const client = await openStream(`/test-builds/${id}/follow`);
      await client.waitForEvent('active');
      client.destroy();

      const job = await jobs.waitFor(id);
      expect(job).toMatchObject({ state: 'cancelled', cancelReason: CLIENT_DISCONNECTED_REASON });
      await released.get(id).promise;
    });

    it('a stream that comes back within the grace keeps the job running', async () => {
      const cancel = jest.spyOn(jobs, 'cancel');
      try {
        const { id } = await startBuild(SLOW);
        const first = await openStream(`/test-builds/${id}/follow`);
        await first.waitForEvent('active');
        first.destroy();
        const seen = jobEventsOf(first.events, id);
        const back = await openStream(`/test-builds/${id}/follow`, { 'last-event-id': seen.at(-1)!.id });
        // The first heartbeat of the new stream comes after the grace of the old one expired.
        await back.waitFor(() => back.silent.length >= 2);
        expect(cancel).not.toHaveBeenCalledWith(id, CLIENT_DISCONNECTED_REASON);
        expect((await jobs.get(id))!.state).toBe('active');
        // Resumed where the first stream stopped: nothing missed, nothing repeated.
        const history = (await request('GET', `${base}/builds/${id}/poll?max=1000`)).json.events as JobEvent[];
        expect([...seen, ...jobEventsOf(back.events, id)]).toEqual(history);
      } finally {
        cancel.mockRestore();
      }
    });
  });

  it('POST /builds/:id/cancel → cancelling, then the build ends cancelled', async () => {
    const { id } = await startBuild(SLOW);
    const client = await openStream(`/builds/${id}/events`);
    await client.waitForEvent('active');

    const res = await request('POST', `${base}/builds/${id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ result: 'cancelling' });

    await client.ended; // the stream ends after the terminal event
    const events = jobEventsOf(client.events, id);
    expect(events.at(-1)!.type).toBe('cancelled');
    expect((await request('GET', `${base}/builds/${id}`)).json).toMatchObject({
      state: 'cancelled',
      cancelReason: 'cancelled',
    });

    expect((await request('POST', `${base}/builds/${id}/cancel`)).json).toEqual({ result: 'already_finished' });
    expect((await request('POST', `${base}/builds/no-such-build/cancel`)).json).toEqual({ result: 'not_found' });
    expect((await request('POST', `${base}/builds/bad!id/cancel`)).status).toBe(400);
  });

  it('maps bad input and library errors to HTTP statuses', async () => {
    expect((await request('POST', `${base}/builds`, { steps: 0 })).status).toBe(400);
    expect((await request('POST', `${base}/builds`, { stepMs: 'slow' })).status).toBe(400);
    expect((await request('GET', `${base}/builds/no-such-build/poll`)).status).toBe(404);
    expect((await request('GET', `${base}/builds/no-such-build/poll?after=bogus`)).status).toBe(400);
    expect((await request('GET', `${base}/builds/no-such-build/poll?max=0`)).status).toBe(400);

    const expected = { invalid: 400, 'not-found': 404, full: 429, drained: 503 } as const;
    for (const [kind, status] of Object.entries(expected)) {
      const res = await request('GET', `${base}/test-builds/errors/${kind}`);
      expect(res.status).toBe(status);
      expect(res.json).toMatchObject({ statusCode: status, message: expect.any(String) });
      if (status === 429 || status === 503) expect(res.headers['retry-after']).toBe('1');
    }
  });

  // The metrics are the app's since it started: these tests check how much they moved across what they did.
  it('GET /health → up; GET /metrics → JSON snapshot', async () => {
    const health = await request('GET', `${base}/health`);
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: 'ok', info: { 'job-queue': { status: 'up', backend: 'memory' } } });

    const { json: before } = await request('GET', `${base}/metrics`);
    await finishedBuild();
    await cancelledBuild();
    const metrics = await request('GET', `${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^application\/json/);
    expect(metrics.json).toMatchObject({ backend: 'memory', shuttingDown: false, added: before.added + 2 });
    expect(Object.keys(metrics.json.counts).sort()).toEqual([...JOB_STATES].sort());
    expect(metrics.json.counts.completed).toBe(before.counts.completed + 1);
    expect(metrics.json.counts.cancelled).toBe(before.counts.cancelled + 1);
  });

  it('GET /metrics/prometheus → the text format, with the counters of what happened', async () => {
    async function scrape() {
      const res = await request('GET', `${base}/metrics/prometheus`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain;.*version=0\.0\.4/);
      const samples = parsePrometheusText(res.text);
      const total = (name: string) =>
        samples.filter((s) => s.name === name && s.labels.queue === 'jq-sample').reduce((sum, s) => sum + s.value, 0);
      return {
        samples,
        added: total('jobqueue_jobs_added_total'),
        completed: total('jobqueue_jobs_completed_total'),
        cancelled: total('jobqueue_jobs_cancelled_total'),
      };
    }

    const before = await scrape();
    await finishedBuild();
    await cancelledBuild();
    // The worker counts an outcome once its write returned, which may be just after waitFor saw it.
    await eventually(async () => {
      const now = await scrape();
      return now.completed > before.completed && now.cancelled > before.cancelled;
    });
    const after = await scrape();
    expect([after.added, after.completed, after.cancelled]).toEqual([
      before.added + 2,
      before.completed + 1,
      before.cancelled + 1,
    ]);
    const { json: snapshot } = await request('GET', `${base}/metrics`);
    expect(after.added).toBe(snapshot.added);
    expect(after.completed).toBe(snapshot.worker.outcomes.completed);
    expect(sampleValue(after.samples, 'jobqueue_dispatcher_reconnects_total', { queue: 'jq-sample' })).toBe(0);
  });

  describe('the admin routes', () => {
    it('GET /admin/jobs lists finished builds newest first, pages with a cursor, and answers 400 for bad input', async () => {
      const older = await finishedBuild();
      const id = await finishedBuild();
      const first = await request('GET', `${base}/admin/jobs?state=completed&name=build&limit=1`);
      expect(first.status).toBe(200);
      expect(first.json.jobs).toEqual([expect.objectContaining({ id, name: 'build', state: 'completed', data: FAST })]);
      expect(first.json.cursor).toEqual(expect.any(String));

      const next = await request(
        'GET',
        `${base}/admin/jobs?state=completed&name=build&limit=1&cursor=${first.json.cursor}`,
      );
      expect(next.status).toBe(200);
      expect(next.json.jobs).toEqual([expect.objectContaining({ id: older, state: 'completed' })]);

      for (const query of [
        'state=bogus',
        'state=completed&limit=0',
        'state=completed&limit=many',
        'state=completed&cursor=nope',
        'state=completed&name=bad!name',
      ]) {
        const res = await request('GET', `${base}/admin/jobs?${query}`);
        expect({ query, status: res.status }).toEqual({ query, status: 400 });
        expect(res.json.message).toEqual(expect.any(String));
      }
    });

    it('POST /admin/jobs/:id/retry runs a finished build again under the same id', async () => {
      const id = await finishedBuild();
      const res = await request('POST', `${base}/admin/jobs/${id}/retry`);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ result: 'retried' });
      expect((await jobs.waitFor(id)).state).toBe('completed');
      const events = (await request('GET', `${base}/builds/${id}/poll?max=1000`)).json.events as JobEvent[];
      expect(events.filter((e) => e.type === 'completed')).toHaveLength(2);
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'queued', data: expect.objectContaining({ retried: true }) }),
      );

      const delayed = await request('POST', `${base}/admin/jobs/${id}/retry`, { delayMs: 60_000 });
      expect(delayed.json).toEqual({ result: 'retried' });
      expect((await jobs.get(id))!.state).toBe('delayed');
      expect(await jobs.cancel(id)).toBe('cancelled');

      expect((await request('POST', `${base}/admin/jobs/${id}/retry`, { delayMs: 'soon' })).status).toBe(400);
      expect((await request('POST', `${base}/admin/jobs/no-such-build/retry`)).status).toBe(404);
    });

    it('DELETE /admin/jobs/:id removes a finished build: it is gone (404) after', async () => {
      const id = await finishedBuild();
      const res = await request('DELETE', `${base}/admin/jobs/${id}`);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ result: 'removed' });
      expect((await request('GET', `${base}/builds/${id}`)).status).toBe(404);
      expect((await request('DELETE', `${base}/admin/jobs/${id}`)).status).toBe(404);
      expect((await request('DELETE', `${base}/admin/jobs/bad!id`)).status).toBe(400);
    });

    it('a running build cannot be retried or removed (409) until it ends', async () => {
      const id = await runningBuild();
      const retry = await request('POST', `${base}/admin/jobs/${id}/retry`);
      expect(retry.status).toBe(409);
      expect(retry.json.message).toMatch(/has not finished/);
      const remove = await request('DELETE', `${base}/admin/jobs/${id}`);
      expect(remove.status).toBe(409);
      expect(remove.json.message).toMatch(/cancel it first/);
      expect((await jobs.get(id))!.state).toBe('active');

      expect(await jobs.cancel(id)).toBe('cancelling');
      expect((await jobs.waitFor(id)).state).toBe('cancelled');
      expect((await request('DELETE', `${base}/admin/jobs/${id}`)).json).toEqual({ result: 'removed' });
    });

    it('POST /admin/pause and /admin/resume: a paused name waits while others run, and runs once resumed', async () => {
      try {
        const paused = await request('POST', `${base}/admin/pause?name=build`);
        expect(paused.status).toBe(200);
        expect(paused.json).toEqual({ queue: false, names: ['build'] });
        expect((await request('GET', `${base}/admin/paused`)).json).toEqual({ queue: false, names: ['build'] });

        const { id } = await startBuild(FAST);
        // A job of another name added after it runs to the end: the worker passed the build over.
        const report = await jobs.add('report', {});
        expect((await jobs.waitFor(report.id)).state).toBe('completed');
        expect((await jobs.get(id))!.state).toBe('waiting');

        expect((await request('POST', `${base}/admin/pause`)).json).toEqual({ queue: true, names: ['build'] });
        expect((await request('POST', `${base}/admin/resume`)).json).toEqual({ queue: false, names: ['build'] });
        expect((await request('POST', `${base}/admin/resume?name=bad!name`)).status).toBe(400);
        const resumed = await request('POST', `${base}/admin/resume?name=build`);
        expect(resumed.json).toEqual({ queue: false, names: [] });
        expect((await jobs.waitFor(id)).state).toBe('completed');
      } finally {
        // The next tests need a running queue even when an assertion above failed.
        await jobs.resume();
        await jobs.resume('build');
      }
    });

    it('GET /admin/schedules lists the nightly report with its next 03:00 UTC', async () => {
      const before = Date.now();
      const res = await request('GET', `${base}/admin/schedules`);
      expect(res.status).toBe(200);
      const nightly = res.json.find((s: { id: string }) => s.id === 'nightly-report');
      expect(nightly).toMatchObject({
        name: 'report',
        data: {},
        opts: { cron: '0 3 * * *', tz: 'UTC' },
        nextAt: expect.any(Number),
      });
      const next = new Date(nightly.nextAt);
      expect([next.getUTCHours(), next.getUTCMinutes(), next.getUTCSeconds()]).toEqual([3, 0, 0]);
      expect(nightly.nextAt).toBeGreaterThan(before);
      expect(nightly.nextAt - before).toBeLessThanOrEqual(86_400_000);
    });

    it('the boot stores the nightly schedule only when it is missing or changed (a stored one keeps its missed tick)', async () => {
      const registrar = app.get(NightlyReportSchedule);
      const schedule = jest.spyOn(jobs, 'schedule');
      try {
        await registrar.onApplicationBootstrap();
        expect(schedule).not.toHaveBeenCalled();

        await jobs.schedule(NIGHTLY_REPORT.id, NIGHTLY_REPORT.name, NIGHTLY_REPORT.data, {
          cron: '0 4 * * *',
          tz: 'UTC',
        });
        schedule.mockClear();
        await registrar.onApplicationBootstrap();
        expect(schedule).toHaveBeenCalledTimes(1);
        expect((await jobs.schedules()).find((s) => s.id === NIGHTLY_REPORT.id)!.opts).toEqual(NIGHTLY_REPORT.opts);
      } finally {
        schedule.mockRestore();
      }
    });

    it('POST /admin/clean removes finished jobs of a state and answers how many', async () => {
      await finishedBuild();
      await finishedBuild();
      const completed = (await jobs.counts()).completed;
      expect(completed).toBeGreaterThanOrEqual(2);

      const some = await request('POST', `${base}/admin/clean`, { state: 'completed', name: 'build', limit: 1 });
      expect(some.status).toBe(200);
      expect(some.json).toEqual({ removed: 1 });
      const rest = await request('POST', `${base}/admin/clean`, { state: 'completed' });
      expect(rest.json).toEqual({ removed: completed - 1 });
      expect((await jobs.counts()).completed).toBe(0);
      expect((await request('GET', `${base}/admin/jobs?state=completed`)).json).toEqual({ jobs: [] });

      expect((await request('POST', `${base}/admin/clean`, { state: 'active' })).status).toBe(400);
      expect((await request('POST', `${base}/admin/clean`)).status).toBe(400);
    });

    it('the failure hook logs the failed job with its error', async () => {
      const logged = new Deferred<string>();
      const error = jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
        if (typeof message === 'string' && message.includes('(test-fail) failed')) logged.resolve(message);
      });
      try {
        const job = await jobs.add('test-fail', {});
        expect((await jobs.waitFor(job.id)).state).toBe('failed');
        expect(await logged.promise).toBe(
          `Job ${job.id} (test-fail) failed after 1 of 1 attempt(s): broken on purpose`,
        );
      } finally {
        error.mockRestore();
      }
    });
  });
});
