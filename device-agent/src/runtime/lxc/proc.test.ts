import { describe, expect, it } from 'vitest';
import { parsePpid } from './proc.js';

describe('parsePpid', () => {
  it('reads the parent even when comm has spaces and parentheses', () => {
    expect(parsePpid('123 (lxc monitor) (x)) S 1 123 123 0')).toBe(1);
    expect(parsePpid('77 (sh) R 42 77')).toBe(42);
  });
});
