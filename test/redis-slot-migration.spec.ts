import { JobQueueError } from '../lib/errors/job-queue.errors';
import { toQueueError } from '../lib/backends/redis/redis-scripts';
import { isSlotMigrating, retryWhileMigrating } from '../lib/backends/redis/redis-slot-migration';

describe('a Redis Cluster slot being migrated', () => {
  const migrating = [
    'ASK 1142 127.0.0.1:7001',
    'TRYAGAIN Multiple keys request during rehashing of slot 1142',
    'Too many Cluster redirections. Last error: ReplyError: TRYAGAIN Multiple keys request during rehashing of slot 1142',
    'ERR Script attempted to access a non local key in a cluster node script: 532baa62, on @user_script:318.',
    'Too many Cluster redirections. Last error: ReplyError: MOVED 9089 127.0.0.1:41481',
  ];

  it('is told from its replies, raw or carried by the queue error, and from nothing else', () => {
    for (const message of migrating) {
      expect(isSlotMigrating(new Error(message))).toBe(true);
      const mapped = toQueueError(new Error(message));
      expect(mapped).toBeInstanceOf(JobQueueError);
      expect(String((mapped as Error).message)).toMatch(/slot is being migrated/);
      expect(isSlotMigrating(mapped)).toBe(true);
    }
    for (const message of [
      'WRONGTYPE Operation against a key {jq}:job:ASK 1',
      'MOVED 1142 127.0.0.1:7001',
      'job TRYAGAIN-1 failed',
      'ECONNREFUSED',
    ]) {
      expect(isSlotMigrating(new Error(message))).toBe(false);
    }
  });

  it('is waited out by retryWhileMigrating, which passes any other error at once and gives up after its budget', async () => {
    let calls = 0;
    const succeedsThird = () => (++calls < 3 ? Promise.reject(new Error(migrating[1])) : Promise.resolve('done'));
    await expect(retryWhileMigrating(succeedsThird, 5_000)).resolves.toBe('done');
    expect(calls).toBe(3);

    calls = 0;
    const other = () => (++calls, Promise.reject(new Error('ECONNREFUSED')));
    await expect(retryWhileMigrating(other, 5_000)).rejects.toThrow('ECONNREFUSED');
    expect(calls).toBe(1);

    calls = 0;
    const never = () => (++calls, Promise.reject(new Error(migrating[0])));
    await expect(retryWhileMigrating(never, 0)).rejects.toThrow(/^ASK/);
    expect(calls).toBe(1);
  });
});
