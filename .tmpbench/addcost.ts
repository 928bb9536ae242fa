import Redis from 'ioredis';
import { loadScripts } from '../lib/backends/redis/redis-scripts';
async function main() {
  const r = new Redis({ port: 6479 });
  await r.flushall();
  const lua = loadScripts().add.lua;
  const cut = (marker: string) => { const i = lua.indexOf(marker); if (i < 0) throw new Error(marker); return lua.slice(0, i) + '\nreturn 1\n'; };
  const headerEnd = lua.indexOf('local P = ARGV[1]');
  const variants: Record<string, string> = {
    empty: 'return 1',
    includesOnly: lua.slice(0, headerEnd) + '\nreturn 1\n',
    upToPass1: cut("if maxWaiting ~= '' and newCount > 0 then"),
    upToPromote: cut('-- Pass 2: write.'),
    full: lua,
    fullNoEvent: lua.replace("addLifecycleEvent(P, id, maxLen, 'queued', false)", ''),
    fullNoWake: lua.replace(/\n  pushWake\(P, name\)\nend/, '\nend'),
  };
  let n = 0;
  const P = '{b}:';
  const keys = [P + 'seq', P + 'names', P + 'clients', P + 'completed', P + 'failed', P + 'cancelled'];
  for (let round = 0; round < 1; round++)
  for (const [name, src] of Object.entries(variants)) {
    const sha = (await r.script('LOAD', src)) as string;
    await r.config('RESETSTAT');
    for (let i = 0; i < 3000; i++) await r.evalsha(sha, 6, ...keys, P, '', 100, `j${++n}`, 'n', '{}', 0, 1, Date.now(), 0, '', '', '', '0', '');
    const t = await r.info('commandstats');
    const per = Number(/cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([\d.]+)/.exec(t)![1]);
    let inner = 0; for (const m of t.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) if (m[1] !== 'evalsha' && m[1] !== 'config') inner += Number(m[3]);
    console.log(name.padEnd(14), per.toFixed(1), 'inner', (inner / 3000).toFixed(1));
    await r.flushall();
  }
  r.disconnect();
}
main();
