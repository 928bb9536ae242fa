import { SortedQueue } from '../lib/backends/memory/sorted-queue';

describe('SortedQueue', () => {
  it('pops by key, FIFO within a key, across compactions', () => {
    const queue = new SortedQueue<string>();
    for (let i = 0; i < 3000; i++) queue.push(i % 3, `k${i % 3}-${i}`);
    const popped: string[] = [];
    for (let i = 0; i < 1500; i++) popped.push(queue.shift()!);
    queue.push(-1, 'first');
    expect(queue.peekKey()).toBe(-1);
    while (queue.size > 0) popped.push(queue.shift()!);
    expect(popped.slice(0, 1000).every((v) => v.startsWith('k0-'))).toBe(true);
    expect(popped[1000]).toBe('k1-1');
    expect(popped[1500]).toBe('first');
    expect(popped).toHaveLength(3001);
    expect(queue.shift()).toBeUndefined();
  });

  it('removes a value that has not been popped, and not one that has', () => {
    const queue = new SortedQueue<string>();
    ['a', 'b', 'c'].forEach((v, i) => queue.push(i, v));
    expect(queue.shift()).toBe('a');
    expect(queue.remove('a')).toBe(false);
    expect(queue.remove('c')).toBe(true);
    expect(queue.size).toBe(1);
    expect(queue.shift()).toBe('b');
  });
});
