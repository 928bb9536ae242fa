/// <reference lib="dom" />
// (DOM types: the page.evaluate/waitForFunction callbacks run in the browser.)
import type { NestExpressApplication } from '@nestjs/platform-express';
import { mkdirSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { JobQueueService } from '../../lib';
import { createSampleApp } from '../../sample/app.factory';
import { ARTIFACTS_DIR, launchChromium } from './chromium';

/** The sample app (in memory) driven by headless Chromium: the demo page and EventSource itself. */
describe('in the browser (headless Chromium)', () => {
  let app: NestExpressApplication;
  let base: string;
  let jobs: JobQueueService;
  let browser: { context: BrowserContext; close(): Promise<void> };
  let page: Page;
  const savedRedisUrl = process.env.REDIS_URL;

  beforeAll(async () => {
    delete process.env.REDIS_URL;
    app = await createSampleApp({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    jobs = app.get(JobQueueService);
    browser = await launchChromium();
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
  });

  beforeEach(async () => {
    page = await browser.context.newPage();
  });

  afterEach(async () => {
    await page.close();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (savedRedisUrl !== undefined) process.env.REDIS_URL = savedRedisUrl;
  });

  it('demo page: start two builds, progress moves on one connection, cancel one → cancelled', async () => {
    const streams: string[] = [];
    page.on('request', (req) => req.url().includes('/builds/events') && streams.push(req.url()));
    await page.goto(`${base}/`);
    await page.fill('input[name=steps]', '10');
    await page.fill('input[name=stepMs]', '300');
    await page.click('button[type=submit]');
    await page.waitForSelector('#builds tr:nth-child(1)');
    await page.click('button[type=submit]');
    await page.waitForSelector('#builds tr:nth-child(2)');

    const [first, second] = await page.$$eval('#builds tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.id!));
    await page.waitForFunction(() => {
      const bars = Array.from(document.querySelectorAll<HTMLProgressElement>('#builds progress'));
      return bars.length === 2 && bars.every((bar) => bar.value > 0);
    });
    expect(await page.textContent('#builds tr:nth-child(1) .token')).toMatch(/^\[\d+\/10\]/);
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'demo-running.png') });

    await page.click('#builds tr:nth-child(2) button.cancel');
    await page.waitForFunction(
      () => document.querySelector('#builds tr:nth-child(2) .state')!.textContent === 'cancelled',
    );
    await page.waitForFunction(
      () => document.querySelector('#builds tr:nth-child(1) .state')!.textContent === 'completed',
    );
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'demo-finished.png') });

    expect((await jobs.get(second))!.state).toBe('cancelled');
    expect((await jobs.get(first))!.state).toBe('completed');
    // Both builds rode one multiplexed stream: the second start re-followed both ids.
    expect(streams.at(-1)).toContain(`ids=${encodeURIComponent(`${first},${second}`)}`);
  });

  it('a finished stream makes EventSource reconnect once, get 204 and stop', async () => {
    const { id } = await jobs.add('build', { steps: 2, stepMs: 10 }, { watchClient: true });
    const url = `${base}/builds/${id}/events`;
    const requests: Array<Promise<string>> = [];
    page.on(
      'request',
      (req) => req.url() === url && requests.push(req.allHeaders().then((h) => h['last-event-id'] ?? '')),
    );
    await page.goto(`${base}/`);
    const noContent = page.waitForResponse((res) => res.url() === url && res.status() === 204);
    const received = await page.evaluate(
      (u) =>
        new Promise<string[]>((resolve) => {
          const types: string[] = [];
          const source = new EventSource(u);
          source.addEventListener('completed', () => types.push('completed'));
          source.addEventListener('queued', () => types.push('queued'));
          source.onerror = () => source.readyState === EventSource.CLOSED && resolve(types);
        }),
      url,
    );
    await noContent;
    expect(received).toEqual(['queued', 'completed']);
    // After the 204 the browser gave up: the subject is the absence of requests, so this waits 10 s
    // (three times its ~3 s reconnect delay) and counts them.
    await page.waitForTimeout(10_000);
    expect(requests).toHaveLength(2);
    const [fresh, reconnect] = await Promise.all(requests);
    expect(fresh).toBe('');
    expect(reconnect).toMatch(/^\d+-\d+$/); // the reconnect carried the terminal event's id
  }, 60_000);

  it('20 builds on one multiplexed stream through the shipped client, while the page fetch still works', async () => {
    const ids = await Promise.all(
      Array.from({ length: 20 }, () =>
        jobs.add('build', { steps: 5, stepMs: 200 }, { watchClient: true }).then((j) => j.id),
      ),
    );
    await page.goto(`${base}/`);
    const result = await page.evaluate(async (jobIds) => {
      // A real import() in the page (written out, as ts-jest would turn it into require()).
      const load = new Function('url', 'return import(url)') as (url: string) => Promise<any>;
      const { JobEventsClient } = await load('/job-events-client.mjs');
      const seen = new Map<string, string[]>(jobIds.map((id: string) => [id, []]));
      let fetched = 0;
      await new Promise<void>((resolve, reject) => {
        new JobEventsClient('/builds/events', {
          ids: jobIds,
          types: ['token'],
          onEvent: (event: { jobId: string; type: string }) => seen.get(event.jobId)!.push(event.type),
          onEnd: resolve,
          onError: reject,
        });
        // Six streams would have used up the browser's connections to this host; one leaves room.
        void fetch(`/builds/${jobIds[0]}`).then((res) => (fetched = res.status));
      });
      return { fetched, types: [...seen.values()] };
    }, ids);
    expect(result.fetched).toBe(200);
    const steps = Array.from({ length: 5 }, () => ['token', 'progress']).flat();
    for (const types of result.types) expect(types).toEqual(['queued', 'active', ...steps, 'completed']);
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'multiplexed.png') });
  });

  it('the client on one stream with an expired build: the other streams, then the client ends without error', async () => {
    const { id } = await jobs.add('build', { steps: 2, stepMs: 10 }, { watchClient: true });
    await page.goto(`${base}/`);
    const result = await page.evaluate(
      async (jobIds) => {
        const load = new Function('url', 'return import(url)') as (url: string) => Promise<any>;
        const { JobEventsClient } = await load('/job-events-client.mjs');
        const events: string[] = [];
        // The stream ends after the known build's end; the browser reconnects once and gets the 204.
        const outcome = await new Promise<string>((resolve) => {
          new JobEventsClient('/builds/events', {
            ids: jobIds,
            onEvent: (event: { jobId: string; type: string }) => events.push(`${event.jobId}:${event.type}`),
            onEnd: () => resolve('end'),
            onError: () => resolve('error'),
          });
        });
        return { outcome, events };
      },
      ['expired-build', id],
    );
    expect(result.outcome).toBe('end');
    expect(result.events.at(-1)).toBe(`${id}:completed`);
    expect(result.events.every((e) => e.startsWith(`${id}:`))).toBe(true);
  });

  it('a connection dropped by the server: EventSource resumes with Last-Event-ID, no event lost or repeated', async () => {
    await page.goto(`${base}/job-events-client.mjs`); // any page of the origin
    const { id } = await jobs.add('build', { steps: 6, stepMs: 400 }, { watchClient: true });
    const url = `${base}/builds/${id}/events`;
    // Seen by the server (the browser's reconnects do not all surface as page requests).
    const sockets: Socket[] = [];
    const resumes: string[] = [];
    const record = (req: IncomingMessage) => {
      if (req.url !== `/builds/${id}/events`) return;
      resumes.push(String(req.headers['last-event-id'] ?? ''));
      sockets.push(req.socket);
    };
    app.getHttpServer().on('request', record);
    try {
      await page.evaluate((u) => {
        const seen: string[] = ((window as any).seen = []);
        const source = new EventSource(u);
        for (const type of ['queued', 'active', 'token', 'progress', 'completed', 'failed', 'cancelled']) {
          source.addEventListener(type, (e) => {
            seen.push((e as MessageEvent).lastEventId);
            if (['completed', 'failed', 'cancelled'].includes(type)) source.close();
          });
        }
      }, url);
      await page.waitForFunction(() => (window as any).seen.length >= 4); // queued, active, the first step
      sockets[0].destroy(); // the stream's connection, cut as by a proxy or the network
      await page.waitForFunction((n) => (window as any).seen.length === n, 2 + 6 * 2 + 1);

      const seen: string[] = await page.evaluate(() => (window as any).seen);
      expect(seen).toEqual((await jobs.poll(id, { max: 1000 })).events.map((e) => e.id));
      expect(resumes).toHaveLength(2);
      expect(resumes[0]).toBe('');
      expect(seen.slice(0, -1)).toContain(resumes[1]); // the reconnect resumed from an event it had
    } finally {
      app.getHttpServer().off('request', record);
    }
  });
});
