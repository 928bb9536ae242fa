#!/usr/bin/env node
'use strict';
/**
 * `npm run start:multi`: three sample processes on ports 3001-3003 sharing one Redis, the way
 * several API instances sit behind a load balancer. Start a build on one port, stream it from
 * another, cancel it on the third.
 *
 * Builds nothing itself: run `npm run build:sample` (nest build) first. Each process's output is
 * prefixed with its port. Ctrl-C sends each process one SIGTERM, so running builds drain and go
 * back to the queue; a second Ctrl-C kills them at once.
 */
const { spawn } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const readline = require('node:readline');

const PORTS = [3001, 3002, 3003];
const ENTRY = join(__dirname, '..', 'dist', 'sample', 'main.js');

if (!process.env.REDIS_URL) {
  console.error(
    'start:multi needs Redis: the processes share their queue through it.\n' +
      'Run e.g.  REDIS_URL=redis://127.0.0.1:6379 npm run start:multi\n' +
      '(For one process without Redis, use `npm start`.)',
  );
  process.exit(1);
}
if (!existsSync(ENTRY)) {
  console.error(`${ENTRY} does not exist: build the sample first with \`npm run build:sample\` (nest build).`);
  process.exit(1);
}

const children = new Map(); // port → ChildProcess
let stopping = false;

for (const port of PORTS) {
  const child = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: a Ctrl-C in the terminal reaches only this script, which then sends
    // each process exactly one SIGTERM (a second signal would cut the graceful drain short).
    detached: true,
  });
  children.set(port, child);
  prefix(child.stdout, process.stdout, port);
  prefix(child.stderr, process.stderr, port);
  child.on('error', (err) => console.error(`[${port}] could not start: ${err.message}`));
  child.on('exit', (code, signal) => {
    children.delete(port);
    if (!stopping) console.error(`[${port}] exited unexpectedly (${signal ?? `code ${code}`})`);
    if (children.size === 0) process.exit(stopping ? 0 : 1);
  });
}

console.log(
  `Started ${PORTS.length} sample processes on ports ${PORTS.join(', ')} with REDIS_URL=${redact(process.env.REDIS_URL)}. Ctrl-C stops them.`,
);

function stop(signal) {
  if (stopping) {
    console.log('Killing the sample processes now.');
    for (const child of children.values()) child.kill('SIGKILL');
    return;
  }
  stopping = true;
  console.log(`${signal}: stopping the sample processes (running builds drain first; Ctrl-C again to kill).`);
  for (const child of children.values()) child.kill('SIGTERM');
  if (children.size === 0) process.exit(0);
}

process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
// Never leave detached children behind, whatever ends this script.
process.on('exit', () => {
  for (const child of children.values()) child.kill('SIGKILL');
});

function prefix(from, to, port) {
  readline.createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => to.write(`[${port}] ${line}\n`));
}

function redact(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable)';
  }
}
