import { MicroBatcher } from '../lib/utils/micro-batcher';

describe('MicroBatcher', () => {
  const sizes = (calls: string[][]) => calls.map((c) => c.length);

  it('coalesces the calls of one tick into bounded batches and answers each caller in order', async () => {
    const calls: string[][] = [];
    const batcher = new MicroBatcher(
      async (items: string[]) => (calls.push(items), items.map((i) => i.toUpperCase())),
      {
        maxItems: 3,
        maxSize: 100,
        sizeOf: (i) => i.length,
      },
    );
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((i) => batcher.push(i)));
    expect(results).toEqual(['A', 'B', 'C', 'D']);
    expect(sizes(calls)).toEqual([3, 1]);
    expect(await batcher.push('e')).toBe('E');
    expect(sizes(calls)).toEqual([3, 1, 1]);
  });

  it('splits by size, sends an oversized item alone, and rejects only the batch that failed', async () => {
    const calls: string[][] = [];
    const batcher = new MicroBatcher(
      async (items: string[]) => {
        calls.push(items);
        if (items.includes('bad')) throw new Error('flush failed');
        return items.map(() => 'ok');
      },
      { maxItems: 10, maxSize: 5, sizeOf: (i) => i.length },
    );
    const outcomes = await Promise.allSettled(['xx', 'yyy', 'zzzzzzz', 'bad'].map((i) => batcher.push(i)));
    expect(calls).toEqual([['xx', 'yyy'], ['zzzzzzz'], ['bad']]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
  });

  it('lets a caller take the queued items (one batch worth) and settle them; the rest still go at the drain', async () => {
    const calls: string[][] = [];
    const batcher = new MicroBatcher(async (items: string[]) => (calls.push(items), items.map((i) => `flushed ${i}`)), {
      maxItems: 2,
      maxSize: 100,
      sizeOf: (i) => i.length,
    });
    expect(batcher.take()).toBeUndefined();
    const pending = ['a', 'b', 'c'].map((i) => batcher.push(i));
    const taken = batcher.take()!;
    expect(taken.items).toEqual(['a', 'b']);
    taken.resolve(['taken a', 'taken b']);
    expect(await Promise.all(pending)).toEqual(['taken a', 'taken b', 'flushed c']);
    expect(calls).toEqual([['c']]);

    const failing = batcher.push('d');
    batcher.take()!.reject(new Error('sent with another call, which failed'));
    await expect(failing).rejects.toThrow('which failed');
    expect(calls).toEqual([['c']]);
  });
});
