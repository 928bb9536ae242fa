#!/usr/bin/env node
/**
 * API reports: one `api/<name>.api.md` per entry point of package.json `exports` that has types, so a
 * change to the public surface shows up in review. `npm run api:check` (CI) fails with the diff when the
 * declarations no longer match the checked-in report; `npm run api:update` rewrites the reports.
 *
 * api-extractor analyses one entry point per run, so this runs api-extractor.json once per entry point,
 * on declarations emitted to dist/api-dts (`npm run build` output is not needed, nor touched).
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { CompilerState, Extractor, ExtractorConfig } = require('@microsoft/api-extractor');

const root = path.resolve(__dirname, '..');
const update = process.argv.includes('--update');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const dtsDir = path.join(root, 'dist', 'api-dts');

/** `.` → `nestjs-job-queue`, `./health` → `nestjs-job-queue-health`, each with its emitted .d.ts. */
const entryPoints = Object.entries(pkg.exports)
  .filter(([, target]) => typeof target === 'object' && target.types)
  .map(([subpath, target]) => ({
    reportName: subpath === '.' ? pkg.name : `${pkg.name}-${subpath.replace(/^\.\//, '').replace(/\//g, '-')}`,
    dts: path.join(dtsDir, path.relative('dist', target.types)),
  }));

fs.rmSync(dtsDir, { recursive: true, force: true });
if (update) fs.mkdirSync(path.join(root, 'api'), { recursive: true });
execFileSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--emitDeclarationOnly', '--outDir', dtsDir],
  { cwd: root, stdio: 'inherit' },
);

const configFile = path.join(root, 'api-extractor.json');
const baseConfig = ExtractorConfig.loadFile(configFile);
let compilerState;
const changed = [];
let failed = false;
for (const { reportName, dts } of entryPoints) {
  const config = ExtractorConfig.prepare({
    configObject: {
      ...baseConfig,
      mainEntryPointFilePath: dts,
      apiReport: { ...baseConfig.apiReport, reportFileName: reportName },
    },
    configObjectFullPath: configFile,
    packageJsonFullPath: path.join(root, 'package.json'),
  });
  // One TypeScript program for every entry point (it holds all three).
  compilerState ??= CompilerState.create(config, { additionalEntryPoints: entryPoints.map((e) => e.dts) });
  const result = Extractor.invoke(config, {
    localBuild: update,
    compilerState,
    printApiReportDiff: true,
    // Drops the "Analysis will use the bundled TypeScript version" line printed once per entry point.
    messageCallback: (message) => {
      if (message.messageId === 'console-preamble') message.handled = true;
    },
  });
  if (result.apiReportChanged) {
    changed.push(
      ...config.reportConfigs.map((report) => path.relative(root, path.join(config.reportFolder, report.fileName))),
    );
  }
  if (!result.succeeded) failed = true;
}

if (update) {
  console.log(changed.length ? `api-report: updated ${changed.join(', ')}` : 'api-report: no change');
} else if (changed.length) {
  console.error(
    `\napi-report: the public API differs from ${changed.join(', ')} (diff above).\n` +
      'If the change is intended, run `npm run api:update` and commit the report with the change.',
  );
} else if (failed) {
  console.error('\napi-report: api-extractor reported the problems above.');
} else {
  console.log(`api-report: the public API matches api/ (${entryPoints.length} entry points)`);
}
process.exitCode = failed || changed.length ? 1 : 0;
