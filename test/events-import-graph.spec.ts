import * as fs from 'node:fs';
import * as path from 'node:path';

const EVENTS_DIR = path.join(__dirname, '..', 'lib', 'events');

/** The relative imports and re-exports of one file, as absolute paths without extension. */
function relativeImports(file: string): string[] {
  const source = fs.readFileSync(file, 'utf8');
  const specifiers = [...source.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)].map((m) => m[1]);
  return specifiers.map((s) => path.resolve(path.dirname(file), s));
}

describe('lib/events import graph', () => {
  const files = fs.readdirSync(EVENTS_DIR).filter((f) => f.endsWith('.ts')).map((f) => path.join(EVENTS_DIR, f));
  const graph = new Map(files.map((f) => [f.replace(/\.ts$/, ''), relativeImports(f).filter((i) => i.startsWith(EVENTS_DIR))]));

  it('has no cycle between the files of lib/events', () => {
    const cycles: string[] = [];
    const visit = (node: string, trail: string[]): void => {
      if (trail.includes(node)) {
        cycles.push([...trail.slice(trail.indexOf(node)), node].map((n) => path.basename(n)).join(' → '));
        return;
      }
      for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it('nothing in lib/events imports the @JobEvents decorator back', () => {
    const decorator = path.join(EVENTS_DIR, 'job-events.decorator');
    const importers = [...graph].filter(([, imports]) => imports.includes(decorator)).map(([file]) => path.basename(file));
    expect(importers).toEqual([]);
  });
});
