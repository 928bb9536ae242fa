/// <reference lib="dom" />
// (DOM types: the page.waitForFunction callbacks run in the browser.)
import type { NestExpressApplication } from '@nestjs/platform-express';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { JobQueueService } from '../../lib';
import { createSampleApp } from '../../sample/app.factory';
import { ARTIFACTS_DIR, launchChromium } from './chromium';

/** The sample's dashboard (in memory, demo token guard) driven by headless Chromium. */
describe('dashboard in the browser (headless Chromium)', () => {
  let app: NestExpressApplication;
  let base: string;
  let jobs: JobQueueService;
  let browser: { context: BrowserContext; close(): Promise<void> };
  let page: Page;
  const saved = { REDIS_URL: process.env.REDIS_URL, DASHBOARD_TOKEN: process.env.DASHBOARD_TOKEN };

  beforeAll(async () => {
    delete process.env.REDIS_URL;
    delete process.env.DASHBOARD_TOKEN; // the sample's default token: 'demo'
    app = await createSampleApp({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    jobs = app.get(JobQueueService);
    browser = await launchChromium();
    page = await browser.context.newPage();
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    for (const [key, value] of Object.entries(saved)) if (value !== undefined) process.env[key] = value;
  });

  const count = (state: string) => page.textContent(`#counts button[data-state=${state}] .count`);
  const waitForText = (selector: string, text: string) =>
    page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent === t, [selector, text] as const);

  it('refuses the page without the token', async () => {
    expect((await page.goto(`${base}/dashboard`))!.status()).toBe(403);
    expect((await page.goto(`${base}/dashboard?token=wrong`))!.status()).toBe(403);
  });

  it('counts, pause, cancel, a live event log, retry and resume with its buttons', async () => {
    const done = await jobs.add('build', { steps: 2, stepMs: 10 });
    await jobs.waitFor(done.id);
    await page.goto(`${base}/dashboard?token=demo`);
    await waitForText('#counts button[data-state=completed] .count', '1');
    expect(await count('waiting')).toBe('0');
    expect(await page.textContent('#queue-state')).toBe('running');

    // Pause: a build added now stays waiting, and the page's polling shows it.
    await page.click('#toggle-queue');
    await waitForText('#queue-state', 'paused');
    expect(await jobs.isPaused()).toBe(true);
    const held = await jobs.add('build', { steps: 2, stepMs: 10 });
    await page.waitForSelector(`#jobs tr[data-id="${held.id}"]`);
    await waitForText('#counts button[data-state=waiting] .count', '1');

    // Cancel the held build.
    await page.click(`#jobs tr[data-id="${held.id}"] button.cancel`);
    await waitForText('#status', `cancel ${held.id}: cancelled`);
    expect((await jobs.get(held.id))!.state).toBe('cancelled');
    // The counts refresh after the button's answer: wait for the new figure rather than race it.
    await waitForText('#counts button[data-state=cancelled] .count', '1');

    // Retry the finished build: back to waiting (the queue is still paused).
    await page.click('#counts button[data-state=completed]');
    await page.click(`#jobs tr[data-id="${done.id}"] button.retry`);
    await waitForText('#status', `retry ${done.id}: retried`);
    expect((await jobs.get(done.id))!.state).toBe('waiting');

    // Its event log: the old run and the retry, then the new run live once the queue resumes.
    await page.click('#counts button[data-state=waiting]');
    await page.click(`#jobs tr[data-id="${done.id}"] button.events`);
    await page.waitForFunction(() => document.querySelector('#log')!.textContent!.includes('"retried":true'));
    await page.click('#toggle-queue');
    await waitForText('#queue-state', 'running');
    await page.waitForFunction(
      () => (document.querySelector('#log')!.textContent!.match(/ completed/g) ?? []).length === 2,
    );
    expect(await jobs.isPaused()).toBe(false);
    expect((await jobs.get(done.id))!.state).toBe('completed');
    await page.waitForFunction(() => document.querySelector('#log')!.textContent!.endsWith('(end of stream)\n')); // the 204
    const types = (await page.textContent('#log'))!
      .trim()
      .split('\n')
      .slice(0, -1)
      .map((line) => line.split(' ')[1]);
    const run = ['queued', 'active', 'token', 'progress', 'token', 'progress', 'completed'];
    expect(types).toEqual([...run, ...run]);
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'dashboard.png'), fullPage: true });
  });
});
