import { describe, expect, it } from 'vitest';
import { RecentIds } from './recent-ids.js';

describe('RecentIds', () => {
  it('reports an id as seen only after the first time', () => {
    const recent = new RecentIds(3);
    expect(recent.seen('a')).toBe(false);
    expect(recent.seen('a')).toBe(true);
    expect(recent.seen('a')).toBe(true);
    expect(recent.seen('b')).toBe(false);
    expect(recent.size).toBe(2);
  });

  it('forgets the oldest id first once more than capacity are remembered', () => {
    const recent = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'd']) expect(recent.seen(id)).toBe(false);
    expect(recent.size).toBe(3);
    // 'a' was evicted by 'd'; 'b', 'c', 'd' are still remembered.
    expect(recent.seen('b')).toBe(true);
    expect(recent.seen('c')).toBe(true);
    expect(recent.seen('d')).toBe(true);
    expect(recent.seen('a')).toBe(false); // new again: now evicts 'b'
    expect(recent.seen('b')).toBe(false); // evicts 'c'
    expect(recent.seen('d')).toBe(true);
    expect(recent.seen('a')).toBe(true);
    expect(recent.seen('c')).toBe(false);
  });

  it('does not refresh an id when it is seen again (age counts from the first sighting)', () => {
    const recent = new RecentIds(2);
    recent.seen('a');
    recent.seen('b');
    expect(recent.seen('a')).toBe(true); // a duplicate: does not move 'a' to the newest slot
    recent.seen('c'); // evicts 'a', the oldest first sighting
    expect(recent.seen('b')).toBe(true);
    expect(recent.seen('a')).toBe(false);
  });

  it('remembers exactly capacity ids over many wraps of the ring', () => {
    const capacity = 1_000;
    const recent = new RecentIds(capacity);
    const total = capacity * 7 + 123;
    for (let i = 0; i < total; i++) expect(recent.seen(`id-${i}`)).toBe(false);
    expect(recent.size).toBe(capacity);
    // The newest `capacity` are remembered, the one just before them is not.
    for (let i = total - capacity; i < total; i++) expect(recent.seen(`id-${i}`)).toBe(true);
    expect(recent.seen(`id-${total - capacity - 1}`)).toBe(false);
  });

  it('with capacity 1 remembers only the last new id', () => {
    const recent = new RecentIds(1);
    expect(recent.seen('a')).toBe(false);
    expect(recent.seen('a')).toBe(true);
    expect(recent.seen('b')).toBe(false);
    expect(recent.seen('a')).toBe(false);
  });

  it('refuses a capacity that cannot hold an id', () => {
    expect(() => new RecentIds(0)).toThrow(RangeError);
    expect(() => new RecentIds(1.5)).toThrow(RangeError);
  });
});
