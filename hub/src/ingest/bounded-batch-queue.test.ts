import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { BoundedBatchQueue } from './bounded-batch-queue.js';

function aQueue(overrides: Partial<ConstructorParameters<typeof BoundedBatchQueue<number>>[0]> = {}) {
  const batches: number[][] = [];
  let fail = 0;
  const queue = new BoundedBatchQueue<number>({
    capacity: 10,
    maxBatch: 4,
    flushIntervalMs: 100,
    retryDelayMs: 1000,
    write: async (batch) => {
      if (fail > 0) {
        fail--;
        throw new Error('database away');
      }
      batches.push(batch);
    },
    ...overrides,
  });
  return { queue, batches, failNext: (n: number) => (fail = n) };
}

describe('BoundedBatchQueue', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  test('writes a full batch at once and a partial one after the flush interval', async () => {
    const { queue, batches } = aQueue();
    for (let i = 1; i <= 6; i++) queue.push(i);
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    await vi.advanceTimersByTimeAsync(100);
    expect(batches).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
    expect(queue.written).toBe(6);
    expect(queue.length).toBe(0);
  });

  test('when full it drops the oldest items and counts them', async () => {
    const dropped: number[] = [];
    const { queue, batches, failNext } = aQueue({ onDropped: (n) => dropped.push(n) });
    failNext(100);
    for (let i = 1; i <= 14; i++) queue.push(i);
    await vi.advanceTimersByTimeAsync(0);
    expect(queue.length).toBe(10);
    expect(queue.dropped).toBe(4);
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(4);
    failNext(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(batches.flat()).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  test('a failed write keeps its rows, in order, and retries after the delay', async () => {
    const errors: number[] = [];
    const { queue, batches, failNext } = aQueue({ onWriteError: (_e, n) => errors.push(n) });
    failNext(1);
    for (let i = 1; i <= 4; i++) queue.push(i);
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([]);
    expect(errors).toEqual([4]);
    queue.push(5);
    await vi.advanceTimersByTimeAsync(999);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(200);
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5]);
    expect(queue.failedWrites).toBe(1);
  });

  test('close writes what is left and drops (counts) later pushes', async () => {
    const { queue, batches } = aQueue();
    queue.push(1);
    queue.push(2);
    await queue.close();
    expect(batches).toEqual([[1, 2]]);
    queue.push(3);
    expect(queue.dropped).toBe(1);
    expect(queue.length).toBe(0);
  });

  test('never runs two writes at once', async () => {
    let running = 0;
    let most = 0;
    const queue = new BoundedBatchQueue<number>({
      capacity: 100,
      maxBatch: 2,
      flushIntervalMs: 10,
      write: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      },
    });
    for (let i = 0; i < 20; i++) queue.push(i);
    const flushing = queue.flush();
    await vi.advanceTimersByTimeAsync(1000);
    await flushing;
    expect(queue.written).toBe(20);
    expect(most).toBe(1);
  });

  test('with writers: 2, two batches are written at once and every row exactly once', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    const queue = new BoundedBatchQueue<number>({
      capacity: 100,
      maxBatch: 5,
      flushIntervalMs: 10,
      writers: 2,
      write: async (batch) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(...batch);
        running--;
      },
    });
    for (let i = 0; i < 42; i++) queue.push(i);
    const flushing = queue.flush();
    await vi.advanceTimersByTimeAsync(1000);
    await flushing;
    expect(most).toBe(2);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 42 }, (_, i) => i));
  });

  test('close with the database away counts what it could not write as dropped', async () => {
    const { queue, failNext } = aQueue();
    failNext(100);
    queue.push(1);
    queue.push(2);
    await queue.close();
    expect(queue.dropped).toBe(2);
    expect(queue.length).toBe(0);
  });

  test('refuses a capacity smaller than a batch', () => {
    expect(
      () =>
        new BoundedBatchQueue({ capacity: 1, maxBatch: 2, flushIntervalMs: 1, write: async () => undefined }),
    ).toThrow(/capacity/);
  });
});
