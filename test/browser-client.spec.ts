import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const CLIENT_FILE = path.join(__dirname, '..', 'lib', 'events', 'browser', 'job-events-client.mjs');

/** The cancel answers the tests' server gives, by job id. */
const ANSWERS: Record<string, { status: number; type: string; body: string }> = {
  json: { status: 200, type: 'application/json; charset=utf-8', body: '{"result":"cancelling"}' },
  text: { status: 200, type: 'text/html; charset=utf-8', body: 'cancelling' }, // Nest's answer to a route returning a string
  forbidden: { status: 403, type: 'application/json', body: '{"statusCode":403,"message":"Forbidden resource"}' },
  broken: { status: 502, type: 'text/plain', body: 'Bad Gateway' },
};

/**
 * The shipped browser client's `cancel()`, run in a separate Node process that loads the file the
 * way bundlers and Node do (an ES module, by its `.mjs` name), against a real HTTP server.
 */
describe('browser client: cancel()', () => {
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const answer = ANSWERS[req.url!.split('/')[1]];
      res.writeHead(answer.status, { 'content-type': answer.type }).end(req.method === 'POST' ? answer.body : '');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('resolves with JSON or text answers and rejects on a non-2xx answer with its status and body', async () => {
    const script = `
      const { JobEventsClient } = await import(${JSON.stringify(pathToFileURL(CLIENT_FILE).href)});
      const client = new JobEventsClient(${JSON.stringify(base)}, { ids: [], cancelUrl: (id) => ${JSON.stringify(base)} + '/' + id + '/cancel' });
      const results = {};
      for (const id of ${JSON.stringify(Object.keys(ANSWERS))}) {
        results[id] = await client.cancel(id).then(
          (value) => ({ value }),
          (err) => ({ message: err.message, status: err.status, body: err.body }),
        );
      }
      console.log(JSON.stringify(results));
    `;
    // Async execFile: the server answers from this process's event loop meanwhile.
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toEqual({
      json: { value: { result: 'cancelling' } },
      text: { value: 'cancelling' },
      forbidden: {
        message: 'JobEventsClient: cancelling job forbidden failed with HTTP 403: Forbidden resource',
        status: 403,
        body: { statusCode: 403, message: 'Forbidden resource' },
      },
      broken: {
        message: 'JobEventsClient: cancelling job broken failed with HTTP 502: Bad Gateway',
        status: 502,
        body: 'Bad Gateway',
      },
    });
  });

  it('is what the package exports as ./browser, and the build copies it there', () => {
    const readJson = (file: string) => JSON.parse(readFileSync(path.join(__dirname, '..', file), 'utf8'));
    const pkg = readJson('package.json');
    expect(pkg.exports['./browser']).toBe('./dist/lib/events/browser/job-events-client.mjs');
    expect(pkg.scripts.build).toContain("fs.cpSync('lib/events/browser', 'dist/lib/events/browser'");
    expect(readJson('nest-cli.json').compilerOptions.assets).toContainEqual({
      include: '../lib/events/browser/*.mjs',
      outDir: 'dist/lib',
    });
  });
});
