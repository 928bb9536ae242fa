/// <reference lib="dom" />
// (DOM types: the page.evaluate/waitForFunction callbacks run in the browser.)
import type { NestExpressApplication } from '@nestjs/platform-express';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
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
    await page.waitForFunction(() => document.querySelector('#builds tr:nth-child(2) .state')!.textContent === 'cancelled');
    await page.waitForFunction(() => document.querySelector('#builds tr:nth-child(1) .state')!.textContent === 'completed');
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
    page.on('request', (req) => req.url() === url && requests.push(req.allHeaders().then((h) => h['last-event-id'] ?? '')));
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
    // After the 204 the browser gave up: give it longer than its ~3 s reconnect delay to prove it.
    await page.waitForTimeout(4_000);
    expect(requests).toHaveLength(2);
    const [fresh, reconnect] = await Promise.all(requests);
    expect(fresh).toBe('');
    expect(reconnect).toMatch(/^\d+-\d+$/); // the reconnect carried the terminal event's id
  });
});
