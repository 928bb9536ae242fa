import { CanActivate, ExecutionContext, INestApplication, Injectable } from '@nestjs/common';
import { Test, TestingModuleOptions } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { JobQueueConfigError, JobQueueModule, JobQueueService } from '../lib';
import { DASHBOARD_CANCEL_REASON, JobQueueDashboardModule, JobQueueDashboardOptions } from '../lib/dashboard';
import { SseClient } from './support/sse-client';

/** Lets a request in when it carries `x-admin: yes`. */
@Injectable()
class AdminHeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers['x-admin'] === 'yes';
  }
}

const ADMIN = { 'x-admin': 'yes' };

/** The dashboard over a real socket, on an in-memory queue with no handlers (jobs stay where they are put). */
describe('JobQueueDashboardModule', () => {
  let app: INestApplication;
  let jobs: JobQueueService;
  let base: string;

  async function start(...dashboards: JobQueueDashboardOptions[]): Promise<void> {
    await startWith({}, ...dashboards);
  }

  async function startWith(
    moduleOptions: TestingModuleOptions,
    ...dashboards: JobQueueDashboardOptions[]
  ): Promise<void> {
    const moduleRef = await Test.createTestingModule(
      { imports: [JobQueueModule.forRoot(), ...dashboards.map((options) => JobQueueDashboardModule.forRoot(options))] },
      moduleOptions,
    ).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    jobs = app.get(JobQueueService);
  }

  async function http(
    method: string,
    path: string,
    headers: Record<string, string> = ADMIN,
  ): Promise<{ status: number; body: any; text: string; type: string }> {
    const res = await fetch(`${base}${path}`, { method, headers });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, text, type, body: type.startsWith('application/json') ? JSON.parse(text) : undefined };
  }

  afterEach(async () => {
    await app?.close();
  });

  describe('behind a guard, at admin/jobs', () => {
    beforeEach(() => start({ path: '/admin/jobs/', guards: [AdminHeaderGuard] }));

    it('refuses every route without the guard’s consent (403) and changes nothing', async () => {
      const { id } = await jobs.add('mail', {});
      for (const [method, path] of [
        ['GET', '/admin/jobs'],
        ['GET', '/admin/jobs/api/overview'],
        ['GET', '/admin/jobs/api/jobs?state=waiting'],
        ['GET', `/admin/jobs/api/jobs/${id}/events`],
        ['POST', `/admin/jobs/api/jobs/${id}/cancel`],
        ['DELETE', `/admin/jobs/api/jobs/${id}`],
        ['POST', '/admin/jobs/api/pause'],
      ]) {
        expect([method, path, (await http(method, path, {})).status]).toEqual([method, path, 403]);
      }
      expect((await jobs.get(id))!.state).toBe('waiting');
      expect(await jobs.isPaused()).toBe(false);
    });

    it('serves the page and the counts per state with what is paused', async () => {
      await jobs.add('mail', {});
      await jobs.add('mail', {}, { delayMs: 60_000 });
      await jobs.pause('sms');
      const page = await http('GET', '/admin/jobs');
      expect(page.status).toBe(200);
      expect(page.type).toBe('text/html; charset=utf-8');
      expect(page.text).toContain('<title>Job queue dashboard</title>');
      const overview = await http('GET', '/admin/jobs/api/overview');
      expect(overview.body).toEqual({
        counts: { waiting: 1, delayed: 1, active: 0, completed: 0, failed: 0, cancelled: 0 },
        paused: { queue: false, names: ['sms'] },
      });
    });

    it('pages through a state’s jobs, filtered by name, with the cursor of each page', async () => {
      const mail = [];
      for (let i = 0; i < 5; i++) mail.push((await jobs.add('mail', { i })).id);
      await jobs.add('sms', {});
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | undefined;
      do {
        const query = new URLSearchParams({
          state: 'waiting',
          name: 'mail',
          limit: '2',
          ...(cursor ? { cursor } : {}),
        });
        const { status, body } = await http('GET', `/admin/jobs/api/jobs?${query}`);
        expect(status).toBe(200);
        seen.push(...body.jobs.map((j: { id: string }) => j.id));
        sizes.push(body.jobs.length);
        cursor = body.cursor;
      } while (cursor);
      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual(mail); // run order: FIFO at one priority
      const all = await http('GET', '/admin/jobs/api/jobs?state=waiting');
      expect(all.body.jobs).toHaveLength(6);
      expect(all.body.cursor).toBeUndefined();
    });

    it('answers bad list queries and ids with 400 and the library’s message, unknown jobs with 404', async () => {
      const limit = await http('GET', '/admin/jobs/api/jobs?state=waiting&limit=5000');
      expect([limit.status, limit.body.message]).toEqual([400, expect.stringContaining("'limit'")]);
      const state = await http('GET', '/admin/jobs/api/jobs?state=lost');
      expect(state.status).toBe(400);
      expect((await http('GET', '/admin/jobs/api/jobs')).status).toBe(400);
      const cursor = await http('GET', '/admin/jobs/api/jobs?state=waiting&cursor=nonsense');
      expect([cursor.status, cursor.body.message]).toEqual([400, expect.stringContaining('cursor')]);
      expect((await http('POST', '/admin/jobs/api/jobs/bad%20id/cancel')).status).toBe(400);
      expect((await http('GET', '/admin/jobs/api/jobs/nobody')).status).toBe(404);
      expect((await http('GET', '/admin/jobs/api/jobs/nobody/events')).status).toBe(404);
    });

    it('buttons: cancel, retry, remove, each answering the service’s result', async () => {
      const { id } = await jobs.add('mail', {});
      expect((await http('GET', `/admin/jobs/api/jobs/${id}`)).body).toMatchObject({ id, state: 'waiting' });
      expect((await http('POST', `/admin/jobs/api/jobs/${id}/retry`)).body).toEqual({ result: 'not_finished' });
      expect((await http('POST', `/admin/jobs/api/jobs/${id}/cancel`)).body).toEqual({ result: 'cancelled' });
      expect(await jobs.get(id)).toMatchObject({ state: 'cancelled', cancelReason: DASHBOARD_CANCEL_REASON });
      expect((await http('POST', `/admin/jobs/api/jobs/${id}/cancel`)).body).toEqual({ result: 'already_finished' });
      expect((await http('POST', `/admin/jobs/api/jobs/${id}/retry`)).body).toEqual({ result: 'retried' });
      expect((await jobs.get(id))!.state).toBe('waiting');
      expect((await http('DELETE', `/admin/jobs/api/jobs/${id}`)).body).toEqual({ result: 'removed' });
      expect(await jobs.get(id)).toBeNull();
      expect((await http('DELETE', `/admin/jobs/api/jobs/${id}`)).body).toEqual({ result: 'not_found' });
    });

    it('buttons: pause and resume the queue and one name', async () => {
      expect((await http('POST', '/admin/jobs/api/pause')).body).toEqual({ queue: true, names: [] });
      expect(await jobs.isPaused()).toBe(true);
      expect((await http('POST', '/admin/jobs/api/pause?name=mail')).body).toEqual({ queue: true, names: ['mail'] });
      expect((await http('POST', '/admin/jobs/api/resume')).body).toEqual({ queue: false, names: ['mail'] });
      expect([await jobs.isPaused(), await jobs.isPaused('mail'), await jobs.isPaused('sms')]).toEqual([
        false,
        true,
        false,
      ]);
      expect((await http('POST', '/admin/jobs/api/resume?name=mail')).body).toEqual({ queue: false, names: [] });
      expect((await http('POST', '/admin/jobs/api/pause?name=bad%20name')).status).toBe(400);
    });

    it('streams a job’s event log as unnamed messages, behind the guard too', async () => {
      const { id } = await jobs.add('mail', {});
      const refused = await SseClient.open(`${base}/admin/jobs/api/jobs/${id}/events`);
      expect(refused.status).toBe(403);
      await refused.ended;
      const log = await SseClient.open(`${base}/admin/jobs/api/jobs/${id}/events`, ADMIN);
      try {
        expect(log.contentType).toMatch(/^text\/event-stream/);
        await log.waitFor((messages) => messages.some((m) => m.data !== undefined));
        await jobs.cancel(id);
        await log.ended;
        const events = log.messages.filter((m) => m.data !== undefined);
        expect(events.map((m) => [m.event, JSON.parse(m.data!).type])).toEqual([
          [undefined, 'queued'],
          [undefined, 'cancelled'],
        ]);
      } finally {
        log.destroy();
      }
    });
  });

  it.each(['reference', 'deep-hash'] as const)(
    'with guards: [] it runs open, and two dashboards on two paths keep their own guards (module ids: %s)',
    async (moduleIdGeneratorAlgorithm) => {
      await startWith(
        { moduleIdGeneratorAlgorithm },
        { path: 'open', guards: [] },
        { path: 'closed', guards: [AdminHeaderGuard] },
      );
      expect((await http('GET', '/open/api/overview', {})).status).toBe(200);
      expect((await http('GET', '/closed/api/overview', {})).status).toBe(403);
      expect((await http('GET', '/closed/api/overview')).status).toBe(200);
    },
  );

  it('takes a guard instance as well as a class', async () => {
    await start({ path: 'dashboard', guards: [{ canActivate: () => false }] });
    expect((await http('GET', '/dashboard')).status).toBe(403);
  });

  it('refuses to boot without guards, with a message that says to pass them or guards: []', () => {
    const missing = () => JobQueueDashboardModule.forRoot({ path: 'dashboard' } as JobQueueDashboardOptions);
    expect(missing).toThrow(JobQueueConfigError);
    expect(missing).toThrow(/needs the option 'guards'.*'guards: \[\]'/);
    expect(() => JobQueueDashboardModule.forRoot(undefined as unknown as JobQueueDashboardOptions)).toThrow(
      /needs the option 'guards'/,
    );
  });

  it('refuses malformed options', () => {
    expect(() =>
      JobQueueDashboardModule.forRoot({ path: 'dashboard', guards: [42] } as unknown as JobQueueDashboardOptions),
    ).toThrow(/Option 'guards' must be an array of guard classes or instances/);
    expect(() =>
      JobQueueDashboardModule.forRoot({
        path: 'dashboard',
        guards: AdminHeaderGuard,
      } as unknown as JobQueueDashboardOptions),
    ).toThrow(JobQueueConfigError);
    for (const path of ['', '/', 'a b', 'a//b', '../x', undefined]) {
      expect(() =>
        JobQueueDashboardModule.forRoot({ path, guards: [] } as unknown as JobQueueDashboardOptions),
      ).toThrow(/Option 'path' must be a URL path/);
    }
  });
});
