import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RedisServerHandle, startRedisServer } from '../support/redis-server';

/**
 * Installs the packed tarball into a scratch Nest app, as a user would, and runs it in three
 * set-ups: core peers only (in memory), plus ioredis (Redis), plus @nestjs/terminus (health).
 * Each set-up compiles with `skipLibCheck: false` against what is installed at that point, then
 * boots, runs a job, and must exit on its own (no leaked connection or timer).
 *
 * One `npm install` serves all three (a second and third install cost 25-35 s each): the optional
 * peers a set-up must not have are moved out of node_modules while it runs, so neither Node nor
 * TypeScript can resolve them. Packages come from the npm cache when there (`--prefer-offline`).
 */

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** An app that has not exited by then kept something open. */
const APP_TIMEOUT_MS = 30_000;
/** Compiling a Nest app without skipLibCheck takes ~10 s on a quiet 2-core machine, much more on a busy one. */
const SETUP_TIMEOUT_MS = 180_000;

/** The versions this repository develops against, so the scratch install hits the npm cache. */
function devVersion(pkg: string): string {
  return `${pkg}@${JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version}`;
}

function npm(args: string[], cwd: string) {
  return run('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    maxBuffer: 16 << 20,
  });
}

/** tsconfig of one set-up: strict, no skipLibCheck, compiling only `entry`. */
function writeTsconfig(dir: string, entry: string, moduleResolution: 'node10' | 'nodenext'): string {
  const file = join(dir, `tsconfig.${entry}.json`);
  const module = moduleResolution === 'nodenext' ? 'nodenext' : 'commonjs';
  const compilerOptions = {
    module,
    moduleResolution,
    target: 'ES2022',
    strict: true,
    skipLibCheck: false,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    types: ['node'],
    outDir: 'dist',
    rootDir: 'src',
    // Set-ups with the same options reuse the checks of the declaration files that did not change.
    incremental: true,
    tsBuildInfoFile: `tsbuildinfo.${moduleResolution}`,
  };
  writeFileSync(file, JSON.stringify({ compilerOptions, files: [`src/${entry}.ts`] }));
  return file;
}

async function buildAndRun(
  dir: string,
  entry: string,
  moduleResolution: 'node10' | 'nodenext',
  env: NodeJS.ProcessEnv = {},
) {
  await run(process.execPath, [TSC, '-p', writeTsconfig(dir, entry, moduleResolution)], { cwd: dir }).catch((err) => {
    throw new Error(`${entry}.ts does not compile against the installed package:\n${err.stdout}${err.stderr}`);
  });
  const { stdout } = await run(process.execPath, [join('dist', `${entry}.js`)], {
    cwd: dir,
    env: { ...process.env, ...env },
    timeout: APP_TIMEOUT_MS,
  });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

const OPTIONAL_PEERS = ['ioredis', '@nestjs/terminus'] as const;
type OptionalPeer = (typeof OPTIONAL_PEERS)[number];

describe('the packed package in a fresh Nest app', () => {
  let dir: string;
  let redis: RedisServerHandle | undefined;

  /** Makes exactly `present` of the optional peers resolvable in the scratch app. */
  function installedPeers(...present: OptionalPeer[]): void {
    for (const peer of OPTIONAL_PEERS) {
      const live = join(dir, 'node_modules', peer);
      const away = join(dir, 'hidden', peer.replace('/', '+'));
      try {
        if (present.includes(peer)) renameSync(away, live);
        else renameSync(live, away);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // already where it should be
      }
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jq-consumer-'));
    const { stdout } = await run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], {
      cwd: ROOT,
      maxBuffer: 16 << 20,
    });
    const tarball = join(dir, stdout.trim().split('\n').pop()!);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'jq-consumer', private: true }));
    cpSync(join(__dirname, 'app'), join(dir, 'src'), { recursive: true });
    const core = ['@nestjs/common', '@nestjs/core', 'rxjs', 'reflect-metadata', '@types/node'];
    await npm(['install', tarball, ...[...core, ...OPTIONAL_PEERS].map(devVersion)], dir);
    mkdirSync(join(dir, 'hidden'));
  }, 300_000);

  afterAll(async () => {
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships a LICENSE and no source maps, and declares ioredis, terminus, prom-client and @opentelemetry/api optional peers', () => {
    const pkgDir = join(dir, 'node_modules', 'nestjs-job-queue');
    expect(readFileSync(join(pkgDir, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    const files = readdirSync(pkgDir, { recursive: true }).map(String);
    expect(files).toContain(join('dist', 'lib', 'index.js'));
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
    const { peerDependenciesMeta } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    expect(peerDependenciesMeta).toEqual({
      ioredis: { optional: true },
      '@nestjs/terminus': { optional: true },
      'prom-client': { optional: true },
      '@opentelemetry/api': { optional: true },
    });
  });

  it(
    'core peers only: compiles, runs a job in memory, and says to install ioredis for option redis',
    async () => {
      installedPeers();
      const out = await buildAndRun(dir, 'core', 'node10');
      expect(out).toEqual({
        result: 'FROM THE TARBALL',
        redisError: expect.stringContaining('npm install ioredis'),
      });
    },
    SETUP_TIMEOUT_MS,
  );

  it(
    "plus ioredis: runs a job on Redis with the user's own instance, which it leaves open",
    async () => {
      redis = await startRedisServer();
      installedPeers('ioredis');
      const out = await buildAndRun(dir, 'redis', 'node10', { REDIS_URL: redis.url, JQ_PREFIX: redis.prefix });
      expect(out).toEqual({ result: 'FROM THE TARBALL', backend: 'redis', mineStillOpen: true });
    },
    SETUP_TIMEOUT_MS,
  );

  it(
    'plus @nestjs/terminus (no ioredis): the health entry point resolves through package exports and reports up',
    async () => {
      installedPeers('@nestjs/terminus');
      const out = await buildAndRun(dir, 'health', 'nodenext');
      expect(out).toEqual({ result: 'FROM THE TARBALL', health: 'ok', queue: 'up' });
    },
    SETUP_TIMEOUT_MS,
  );
});
