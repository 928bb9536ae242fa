import type { NestExpressApplication } from '@nestjs/platform-express';
import fc from 'fast-check';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { JobQueueService } from '../../lib';
import { describeValue } from '../../lib/errors/job-queue.messages';
import { createSampleApp } from '../../sample/app.factory';
import { RedisServerHandle, startRedisServer } from '../support/redis-server';
import { CaseCounter, FUZZ_RUNS, FUZZ_TIMEOUT_MS, eventIdLike, identLike } from './fuzz-inputs';

/**
 * Hostile HTTP requests to the sample app: bodies, ids in the path, `after`/`max` queries and
 * Last-Event-ID headers. Every answer is a 2xx or a 4xx (never a 5xx), and the app keeps serving.
 */

/** Percent-encodes every byte, so lone surrogates, slashes and spaces reach the route as given (HTTP carries text only). */
function pathSegment(value: unknown): string {
  const text = typeof value === 'string' ? value : describeValue(value);
  return [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('') || '%20';
}

/** Header values Node lets a client send (printable ASCII), including event-id near misses. */
const headerValue = fc.oneof(
  eventIdLike.filter((value): value is string => typeof value === 'string' && /^[\x20-\x7e]*$/.test(value)),
  fc.string({ unit: fc.constantFrom(...' -0123456789abc$+('.split('')) }),
);

/** Raw request bodies: JSON of any shape, broken JSON, deep nesting, huge, other content types. */
const body = fc.oneof(
  fc.jsonValue().map((value) => ({ text: JSON.stringify(value) ?? 'null', type: 'application/json' })),
  fc
    .record({
      steps: fc.oneof(fc.integer({ min: -5, max: 2_000 }), fc.string()),
      stepMs: fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.constant(null)),
    })
    .map((value) => ({
      text: JSON.stringify(value),
      type: 'application/json',
    })),
  fc.string().map((text) => ({
    text,
    type: fc.sample(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'), 1)[0],
  })),
  fc.constantFrom(
    { text: '['.repeat(10_000) + ']'.repeat(10_000), type: 'application/json' },
    { text: '{"steps":1e400}', type: 'application/json' },
    { text: '{"steps":1,"__proto__":{"x":1}}', type: 'application/json' },
    { text: `{"s":"${'x'.repeat(200_000)}"}`, type: 'application/json' },
    { text: '\ud800', type: 'application/json' },
    { text: '', type: 'application/json' },
  ),
);

/**
 * Sends one request; resolves with the status as soon as the headers arrive (streams are closed
 * then), and hands the id of a build it created to `onCreated`.
 */
function statusOf(
  base: string,
  method: string,
  path: string,
  {
    text,
    type,
    headers = {},
    onCreated,
  }: { text?: string; type?: string; headers?: Record<string, string>; onCreated?: (id: string) => void } = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { method, agent: false, headers: { ...(type && { 'content-type': type }), ...headers } },
      (res) => {
        if (res.statusCode !== 201 || !onCreated) {
          resolve(res.statusCode ?? 0);
          res.destroy();
          return;
        }
        let json = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (json += chunk));
        res.on('end', () => {
          onCreated(JSON.parse(json).id);
          resolve(201);
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

jest.setTimeout(FUZZ_TIMEOUT_MS);

let redis: RedisServerHandle;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describe.each(['memory', 'redis'])('fuzz: HTTP requests to the sample app (%s)', (label) => {
  const counter = new CaseCounter(`sample-http-${label}`);
  let app: NestExpressApplication;
  let base: string;
  let jobs: JobQueueService;
  const started: string[] = [];
  const savedEnv = { REDIS_URL: process.env.REDIS_URL, JQ_PREFIX: process.env.JQ_PREFIX };

  beforeAll(async () => {
    if (label === 'redis') {
      process.env.REDIS_URL = redis.url;
      process.env.JQ_PREFIX = `${redis.prefix}-http-${randomUUID().slice(0, 8)}`;
    } else delete process.env.REDIS_URL;
    app = await createSampleApp({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    jobs = app.get(JobQueueService);
  });
  afterAll(async () => {
    // Builds the fuzz started would otherwise hold the drain on close.
    await Promise.all(started.map((id) => jobs.cancel(id).catch(() => undefined)));
    await app?.close();
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    counter.report();
  });

  it('POST /builds with any body: 201 or 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (input) => {
        counter.tick();
        const status = await statusOf(base, 'POST', '/builds', { ...input, onCreated: (id) => started.push(id) });
        expect(status === 201 || (status >= 400 && status < 500)).toBe(true);
      }),
      { numRuns: FUZZ_RUNS },
    );
    const res = await statusOf(base, 'GET', '/health');
    expect(res).toBeLessThan(500);
  });

  it('GET/POST on any build id, after, max and Last-Event-ID: 2xx or 4xx', async () => {
    const job = await jobs.add('build', { steps: 1, stepMs: 60_000 }, { jobId: `fuzz-${randomUUID()}` });
    started.push(job.id);
    const id = fc.oneof(identLike, fc.constant(job.id));
    await fc.assert(
      fc.asyncProperty(
        id,
        eventIdLike,
        fc.oneof(fc.string(), fc.integer().map(String)),
        headerValue,
        async (jobId, after, max, lastEventId) => {
          counter.tick();
          const segment = pathSegment(jobId);
          const query = `?after=${pathSegment(after)}&max=${pathSegment(max)}`;
          const statuses = await Promise.all([
            statusOf(base, 'GET', `/builds/${segment}`),
            statusOf(base, 'GET', `/builds/${segment}/poll${query}`),
            statusOf(base, 'GET', `/builds/${segment}/events`, { headers: { 'last-event-id': lastEventId } }),
          ]);
          for (const status of statuses) expect(status).toBeLessThan(500);
          if (jobId !== job.id) expect(await statusOf(base, 'POST', `/builds/${segment}/cancel`)).toBeLessThan(500);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });
});
