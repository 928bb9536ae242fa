/**
 * The command-line arguments of every private `redis-server` the tests and the bench start: loopback
 * only, nothing written to disk (no RDB, no AOF), its working files in `dir`, quiet logs.
 */
export function privateRedisServerArgs(port: number, dir: string): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--loglevel',
    'warning',
  ];
}
