import { SortedQueue } from '../lib/backends/memory/sorted-queue';

describe('SortedQueue', () => {
  it('pops by score, then by member, insertion order for equal pairs, across compactions', () => {
    const queue = new SortedQueue<string>();
    for (let i = 0; i < 3000; i++) queue.push(i % 3, '', `k${i % 3}-${i}`);
    const popped: string[] = [];
    for (let i = 0; i < 1500; i++) popped.push(queue.shift()!);
    queue.push(-1, '', 'first');
    expect(queue.peekScore()).toBe(-1);
    while (queue.size > 0) popped.push(queue.shift()!);
    expect(popped.slice(0, 1000).every((v) => v.startsWith('k0-'))).toBe(true);
    expect(popped[1000]).toBe('k1-1');
    expect(popped[1500]).toBe('first');
    expect(popped).toHaveLength(3001);
    expect(queue.shift()).toBeUndefined();
  });

  it('orders equal scores by member, as a Redis sorted set does', () => {
    const queue = new SortedQueue<string>();
    queue.push(0, '1b', 'b');
    queue.push(0, '1a', 'a');
    queue.push(0, '0z', 'front');
    queue.push(-1, '1z', 'higher');
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift()]).toEqual(['higher', 'front', 'a', 'b']);
  });

  it('removes a value that has not been popped, and not one that has', () => {
    const queue = new SortedQueue<string>();
    ['a', 'b', 'c'].forEach((v, i) => queue.push(i, '', v));
    expect(queue.shift()).toBe('a');
    expect(queue.remove('a')).toBe(false);
    expect(queue.remove('c')).toBe(true);
    expect(queue.size).toBe(1);
    expect(queue.shift()).toBe('b');
  });
});
