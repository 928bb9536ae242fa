/**
 * Summarizes a V8 .cpuprofile (from BENCH_PROFILE=1 or node --cpu-prof): self time by area
 * (this library's folders, each package, Node internals, GC, idle) and the top functions.
 * Usage: npx ts-node --transpile-only bench/profile-summary.ts bench/profiles/ours-process-c16.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: lib/<folder>, a package name, node internals, or V8's pseudo-frames. */
function areaOf(url: string, functionName: string): string {
  if (!url) return `(${functionName.replace(/[()]/g, '') || 'native'})`;
  const lib = /\/lib\/([^/]+)\/?/.exec(url.replace(/.*\/node_modules\/[^]*$/, ''));
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'node internals';
  if (lib) return `lib/${lib[1].endsWith('.ts') ? '' : lib[1]}`.replace(/\/$/, '');
  if (url.includes('/bench/')) return 'bench';
  return url.split('/').slice(-1)[0];
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
  const top = Number(topArg ?? 25);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const area = areaOf(url, functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const key = `${functionName || '(anonymous)'}  ${url.replace(/^.*\/(node_modules|lib|bench)\//, '$1/')}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const busy = total - (byArea.get('(idle)') ?? 0);
  const pct = (us: number, of: number) => `${((us * 100) / of).toFixed(1).padStart(5)} %`;
  console.log(
    `${file}: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (not idle)\n\nself time by area (% of busy):`,
  );
  for (const [area, us] of [...byArea].sort((a, b) => b[1] - a[1])) {
    if (area !== '(idle)') console.log(`${pct(us, busy)}  ${area}`);
  }
  console.log(`\ntop ${top} functions by self time (% of busy):`);
  for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (!fn.startsWith('(idle)')) console.log(`${pct(us, busy)}  ${fn}`);
  }
}

main();
