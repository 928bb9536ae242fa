import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

/**
 * With env BENCH_PROFILE=1, records a V8 CPU profile of `work` only (not start-up or set-up) to
 * bench/profiles/<name>.cpuprofile (open in Chrome DevTools or speedscope). Otherwise just runs it.
 */
export async function profiled<T>(name: string, work: () => Promise<T>): Promise<T> {
  if (process.env.BENCH_PROFILE !== '1') return work();
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await post('Profiler.stop');
    session.disconnect();
    const dir = join(__dirname, 'profiles');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  }
}
