import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const LIB = path.join(__dirname, '..', 'lib');

interface ImportEdge {
  /** Absolute path without extension for a relative import, the package name otherwise. */
  target: string;
  typeOnly: boolean;
}

/** The static imports and re-exports of one file (dynamic `import()` loads lazily, so it is left out). */
function staticImports(file: string): ImportEdge[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const edges: ImportEdge[] = [];
  for (const statement of source.statements) {
    const isImport = ts.isImportDeclaration(statement);
    if (!isImport && !ts.isExportDeclaration(statement)) continue;
    const specifier = statement.moduleSpecifier;
    if (!specifier || !ts.isStringLiteral(specifier)) continue;
    const typeOnly = isImport ? !!statement.importClause?.isTypeOnly : statement.isTypeOnly;
    const target = specifier.text.startsWith('.') ? resolveRelative(file, specifier.text) : specifier.text;
    edges.push({ target, typeOnly });
  }
  return edges;
}

function resolveRelative(from: string, specifier: string): string {
  const base = path.resolve(path.dirname(from), specifier);
  return fs.existsSync(`${base}.ts`) ? base : path.join(base, 'index');
}

function libFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return libFiles(full);
    return entry.name.endsWith('.ts') ? [full.replace(/\.ts$/, '')] : [];
  });
}

const graph = new Map(libFiles(LIB).map((file) => [file, staticImports(`${file}.ts`)]));
const relative = (file: string) => path.relative(LIB, file);

/** Every file the entry point loads, following `follow` edges. */
function reachable(entry: string, follow: (edge: ImportEdge) => boolean): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const edge of graph.get(file) ?? []) if (graph.has(edge.target) && follow(edge)) visit(edge.target);
  };
  visit(entry);
  return seen;
}

/** Files of `files` that import one of `packages`. */
function importersOf(files: Set<string>, packages: string[], follow: (edge: ImportEdge) => boolean): string[] {
  return [...files]
    .filter((file) => graph.get(file)!.some((e) => packages.includes(e.target) && follow(e)))
    .map(relative);
}

describe('lib/ import graph', () => {
  it('has no import cycle (type-only imports included)', () => {
    const cycles = new Set<string>();
    const done = new Set<string>();
    const visit = (file: string, trail: string[]): void => {
      const at = trail.indexOf(file);
      if (at >= 0) {
        cycles.add([...trail.slice(at), file].map(relative).join(' → '));
        return;
      }
      if (done.has(file)) return;
      for (const edge of graph.get(file) ?? []) if (graph.has(edge.target)) visit(edge.target, [...trail, file]);
      done.add(file);
    };
    for (const file of graph.keys()) visit(file, []);
    expect([...cycles]).toEqual([]);
  });

  it('loads neither @nestjs/terminus nor ioredis from the root entry point, nor names them in its typings', () => {
    const everyImport = () => true;
    const loaded = reachable(path.join(LIB, 'index'), everyImport);
    expect(loaded.size).toBeGreaterThan(10);
    expect(importersOf(loaded, ['@nestjs/terminus', 'ioredis'], everyImport)).toEqual([]);
  });

  it('loads neither prom-client nor @opentelemetry/api from the root entry point, nor names them in its typings', () => {
    const loaded = reachable(path.join(LIB, 'index'), () => true);
    expect(importersOf(loaded, ['prom-client', '@opentelemetry/api'], () => true)).toEqual([]);
  });

  it('keeps prom-client to the lazily loaded lib/metrics/prometheus files', () => {
    const importers = importersOf(new Set(graph.keys()), ['prom-client'], () => true);
    expect(importers.sort()).toEqual(['metrics/prometheus/prometheus-metrics', 'metrics/prometheus/prometheus-probe']);
  });

  it('keeps @opentelemetry/api to the lazily loaded lib/tracing/otel-job-tracer', () => {
    expect(importersOf(new Set(graph.keys()), ['@opentelemetry/api'], () => true)).toEqual(['tracing/otel-job-tracer']);
  });

  it('keeps @nestjs/terminus to the health entry point', () => {
    const loaded = reachable(path.join(LIB, 'health', 'index'), () => true);
    expect(importersOf(loaded, ['@nestjs/terminus'], () => true).sort()).toEqual([
      'health/job-queue-health.module',
      'health/job-queue.health',
    ]);
  });
});
