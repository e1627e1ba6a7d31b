import { describe, expect, test } from 'vitest';
import { KeyedSerialExecutor } from './keyed-serial-executor.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('KeyedSerialExecutor', () => {
  test('runs tasks of one key in order, one at a time, and other keys alongside', async () => {
    const ex = new KeyedSerialExecutor(10);
    const log: string[] = [];
    const gateA1 = deferred();
    await ex.submit('a', async () => {
      log.push('a1 start');
      await gateA1.promise;
      log.push('a1 end');
    });
    await ex.submit('a', async () => {
      log.push('a2');
    });
    await ex.submit('b', async () => {
      log.push('b1');
    });
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['a1 start', 'b1']);
    gateA1.resolve();
    await ex.idle();
    expect(log).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });

  test('admission waits while maxInFlight tasks are unfinished (backpressure)', async () => {
    const ex = new KeyedSerialExecutor(2);
    const gate = deferred();
    await ex.submit('a', () => gate.promise);
    await ex.submit('b', () => gate.promise);
    let admitted = false;
    const third = ex.submit('c', async () => undefined).then(() => (admitted = true));
    await new Promise((r) => setImmediate(r));
    expect(admitted).toBe(false);
    expect(ex.inFlight).toBe(2);
    gate.resolve();
    await third;
    expect(admitted).toBe(true);
    await ex.idle();
    expect(ex.inFlight).toBe(0);
  });

  test('a failing task does not stop the tasks queued behind it', async () => {
    const ex = new KeyedSerialExecutor(4);
    const ran: number[] = [];
    await ex.submit('a', async () => {
      throw new Error('boom');
    });
    await ex.submit('a', async () => {
      ran.push(2);
    });
    await ex.idle();
    expect(ran).toEqual([2]);
  });
});
