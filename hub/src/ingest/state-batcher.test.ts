import { describe, expect, test } from 'vitest';
import { StateBatcher } from './state-batcher.js';

// Items are strings; `merge` joins two items whose names start with "s" (state), keeps others.
const merge = (older: string, newer: string) =>
  older.startsWith('s') && newer.startsWith('s') ? newer : undefined;
const aBatcher = (capacity = 100) => new StateBatcher<string>({ capacity, merge });
const ids = (batch: Array<{ deviceId: string; item: string }>) => batch.map((b) => `${b.deviceId}:${b.item}`);

describe('StateBatcher', () => {
  test('a batch holds at most one message per device, oldest first, and the next only after complete', async () => {
    const b = aBatcher();
    await b.push('a', 'e1');
    await b.push('a', 'e2');
    await b.push('b', 'e1');
    const first = b.take(10);
    expect(ids(first)).toEqual(['a:e1', 'b:e1']);
    // a's second message waits for its first to complete, whatever the number of writers.
    expect(b.take(10)).toEqual([]);
    b.complete(['a', 'b']);
    expect(ids(b.take(10))).toEqual(['a:e2']);
  });

  test('a message merges into the pending one before it, never into one being written', async () => {
    const b = aBatcher();
    expect(await b.push('a', 's1')).toBe('queued');
    const writing = b.take(10);
    expect(await b.push('a', 's2')).toBe('queued'); // s1 is being written
    expect(await b.push('a', 's3')).toBe('merged');
    expect(await b.push('a', 'e1')).toBe('queued'); // an event is never merged
    expect(await b.push('a', 's4')).toBe('queued'); // only with the message just before it
    expect(b.pending).toBe(3);
    b.complete(writing.map((w) => w.deviceId));
    const order: string[] = [];
    for (let batch = b.take(10); batch.length > 0; batch = b.take(10)) {
      order.push(...ids(batch));
      b.complete(batch.map((w) => w.deviceId));
    }
    expect(order).toEqual(['a:s3', 'a:e1', 'a:s4']);
  });

  test('take returns at most max devices; the others stay ready, in the order they came', async () => {
    const b = aBatcher();
    for (const d of ['a', 'b', 'c', 'd', 'e']) await b.push(d, 'e');
    expect(ids(b.take(2))).toEqual(['a:e', 'b:e']);
    expect(ids(b.take(2))).toEqual(['c:e', 'd:e']);
    expect(ids(b.take(2))).toEqual(['e:e']);
  });

  test('a device that completes with more pending goes behind the devices already ready (no starvation)', async () => {
    const b = aBatcher();
    await b.push('a', 'e1');
    await b.push('a', 'e2');
    const first = b.take(1);
    await b.push('b', 'e1');
    b.complete(first.map((w) => w.deviceId));
    expect(ids(b.take(1))).toEqual(['b:e1']);
    expect(ids(b.take(1))).toEqual(['a:e2']);
  });

  test('when full, push waits until a batch is taken; a message that merges does not wait', async () => {
    const b = aBatcher(2);
    await b.push('a', 'e1');
    await b.push('b', 's1');
    let admitted = false;
    const waiting = b.push('c', 'e1').then(() => (admitted = true));
    expect(await b.push('b', 's2')).toBe('merged');
    await Promise.resolve();
    expect(admitted).toBe(false);
    expect(b.pending).toBe(2);
    expect(ids(b.take(1))).toEqual(['a:e1']);
    await waiting;
    expect(b.pending).toBe(2);
  });

  test('onReady fires when a device becomes ready; idle resolves once everything completed', async () => {
    const b = aBatcher();
    let ready = 0;
    b.onReady(() => ready++);
    await b.push('a', 'e1');
    await b.push('a', 'e2'); // a is already ready
    expect(ready).toBe(1);
    let idle = false;
    const done = b.idle().then(() => (idle = true));
    b.complete(b.take(10).map((w) => w.deviceId));
    expect(ready).toBe(2); // a is ready again for e2
    await Promise.resolve();
    expect(idle).toBe(false);
    b.complete(b.take(10).map((w) => w.deviceId));
    await done;
    expect(idle).toBe(true);
    expect(b.inFlight).toBe(0);
  });

  test('a capacity below 1 is refused', () => {
    expect(() => aBatcher(0)).toThrow(/capacity must be >= 1/);
  });

  test('tryPush adds without waiting, and adds nothing when the map is full (a merge still fits)', () => {
    const b = aBatcher(2);
    expect(b.tryPush('a', 's1')).toBe('queued');
    expect(b.tryPush('b', 'e1')).toBe('queued');
    expect(b.tryPush('c', 'e1')).toBeUndefined();
    expect(b.pending).toBe(2);
    expect(b.tryPush('a', 's2')).toBe('merged'); // replaces a pending message: needs no room
    expect(ids(b.take(10))).toEqual(['a:s2', 'b:e1']);
    expect(b.tryPush('c', 'e1')).toBe('queued');
  });
});
