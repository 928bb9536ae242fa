import Redis from 'ioredis';
import { now, sleep, withTimeout } from '../clock';
import type { BenchContext } from '../context';
import { LatencySummary, summarize } from '../stats';

/** What plain ioredis achieves on this machine: the floor under the library's latencies. */
export interface BaselineResult {
  /** PING round trip, plain connection. */
  pingRtt: LatencySummary;
  /** PING round trip with enableAutoPipelining (what the library's command connection uses). */
  pingRttAutoPipelined: LatencySummary;
  /** LPUSH on one connection → BLPOP returns on another (how idle workers are woken). */
  lpushToBlpop: LatencySummary;
  /** PUBLISH on one connection → 'message' on a subscriber connection (how cancels travel). */
  publishToMessage: LatencySummary;
}

const SAMPLES = 1_000;
const WARMUP = 100;

export async function baseline(ctx: BenchContext): Promise<BaselineResult> {
  const { host, port } = ctx.redis!;
  const plain = new Redis({ host, port, connectionName: 'bench-baseline' });
  const piped = new Redis({ host, port, connectionName: 'bench-baseline', enableAutoPipelining: true });
  const blocking = new Redis({ host, port, connectionName: 'bench-baseline' });
  const subscriber = new Redis({ host, port, connectionName: 'bench-baseline' });
  const clients = [plain, piped, blocking, subscriber];
  for (const c of clients) c.on('error', () => undefined);
  try {
    const pingRtt = await sample(async () => {
      const t0 = now();
      await plain.ping();
      return now() - t0;
    });
    const pingRttAutoPipelined = await sample(async () => {
      const t0 = now();
      await piped.ping();
      return now() - t0;
    });
    const lpushToBlpop = await sample(async () => {
      const popped = blocking.blpop('bench:wake', 1);
      await sleep(1); // the BLPOP is blocked on the server by now
      const t0 = now();
      await plain.lpush('bench:wake', '1');
      await withTimeout(popped, 2_000, 'BLPOP');
      return now() - t0;
    }, SAMPLES / 2);
    let onMessage: (() => void) | undefined;
    subscriber.on('message', () => onMessage?.());
    await subscriber.subscribe('bench:chan');
    const publishToMessage = await sample(async () => {
      const received = new Promise<number>((resolve) => (onMessage = () => resolve(now())));
      const t0 = now();
      await plain.publish('bench:chan', 'x');
      return (await withTimeout(received, 2_000, 'pub/sub message')) - t0;
    });
    return { pingRtt, pingRttAutoPipelined, lpushToBlpop, publishToMessage };
  } finally {
    for (const c of clients) c.disconnect();
  }
}

async function sample(once: () => Promise<number>, samples = SAMPLES): Promise<LatencySummary> {
  const values: number[] = [];
  for (let i = 0; i < WARMUP + samples; i++) {
    const v = await once();
    if (i >= WARMUP) values.push(v);
  }
  return summarize(values);
}
