import { MicroBatcher } from '../lib/utils/micro-batcher';

describe('MicroBatcher', () => {
  const sizes = (calls: string[][]) => calls.map((c) => c.length);

  it('coalesces the calls of one tick into bounded batches and answers each caller in order', async () => {
    const calls: string[][] = [];
    const batcher = new MicroBatcher(async (items: string[]) => (calls.push(items), items.map((i) => i.toUpperCase())), {
      maxItems: 3,
      maxSize: 100,
      sizeOf: (i) => i.length,
    });
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
});
