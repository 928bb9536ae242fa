#!/usr/bin/env node
/**
 * Type-checks lib/ against the lowest and the newest version of every declared peer dependency
 * range (`npm run test:peers`, or `node scripts/test-peers.js lowest|newest`). Each set is installed
 * from the npm registry into its own scratch directory under the OS temp dir (kept between runs,
 * so a second run only re-checks); the repository's node_modules is not touched.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const rootTsconfig = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));

/**
 * `^11.0.0` → `11.0.0` (lowest) or `^11.0.0` (npm picks the newest in range). A range of
 * alternatives (`^14.0.0 || ^15.0.0`): the lowest of the first, the newest of the whole.
 */
function versionOf(range, which) {
  const lowest = /^[\^~]?(\d+\.\d+\.\d+)$/.exec(range.split('||')[0].trim());
  if (!lowest)
    throw new Error(`test-peers: cannot read the lowest version of the range '${range}'; use ^x.y.z or ~x.y.z.`);
  return which === 'lowest' ? lowest[1] : range;
}

function check(which) {
  const started = Date.now();
  const dir = path.join(os.tmpdir(), `nestjs-job-queue-peers-${which}`);
  fs.rmSync(path.join(dir, 'lib'), { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const deps = Object.entries(pkg.peerDependencies).map(([name, range]) => `${name}@${versionOf(range, which)}`);
  // The package's own dependencies as declared (npm installs them for every user), then the
  // compiler and Node typings the repository itself uses.
  for (const [name, range] of Object.entries(pkg.dependencies ?? {})) deps.push(`${name}@${range}`);
  // The compiler and Node typings the repository itself uses.
  deps.push(`typescript@${pkg.devDependencies.typescript}`, `@types/node@${pkg.devDependencies['@types/node']}`);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `peers-${which}`, private: true }, null, 2));
  execFileSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--no-save',
      '--prefer-offline',
      '--loglevel=error',
      ...deps,
    ],
    {
      cwd: dir,
      stdio: 'inherit',
    },
  );
  fs.cpSync(path.join(root, 'lib'), path.join(dir, 'lib'), { recursive: true });
  const compilerOptions = { ...rootTsconfig.compilerOptions, types: ['node'], noEmit: true };
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions, include: ['lib/**/*.ts'] }, null, 2),
  );
  const installed = ['@nestjs/common', '@nestjs/core'].map(
    (name) =>
      `${name}@${JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version}`,
  );
  try {
    execFileSync(path.join(dir, 'node_modules', '.bin', 'tsc'), ['-p', dir], { cwd: dir, stdio: 'inherit' });
  } catch {
    console.error(
      `test-peers: lib/ does not compile against the ${which} peers (${installed.join(', ')}); see the errors above.`,
    );
    process.exit(1);
  }
  console.log(
    `test-peers: lib/ compiles against the ${which} peers (${installed.join(', ')}) in ${Date.now() - started} ms`,
  );
}

const which = process.argv.slice(2);
for (const set of which.length > 0 ? which : ['lowest', 'newest']) {
  if (set !== 'lowest' && set !== 'newest') throw new Error(`test-peers: unknown set '${set}'; use lowest or newest.`);
  check(set);
}
