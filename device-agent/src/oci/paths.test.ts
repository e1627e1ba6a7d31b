import { describe, expect, it } from 'vitest';
import {
  checkSymlink,
  clampedJoin,
  classifyWhiteout,
  entryComponents,
  resolveSymlinkTarget,
} from './paths.js';

describe('entry paths', () => {
  it('normalises ./ prefixes, duplicate and trailing slashes', () => {
    expect(entryComponents('./usr//bin/')).toEqual(['usr', 'bin']);
    expect(entryComponents('./')).toEqual([]);
  });

  it.each([
    ['../etc/passwd', /path traversal/],
    ['a/../../b', /path traversal/],
    ['a/../b', /path traversal/],
    ['/etc/passwd', /absolute path/],
    ['a\0b', /NUL/],
  ])('refuses %j naming the entry', (name, why) => {
    expect(() => entryComponents(name)).toThrow(why);
    expect(() => entryComponents(name)).toThrow(JSON.stringify(name));
  });
});

describe('whiteouts', () => {
  it('recognises a whiteout and its target', () => {
    expect(classifyWhiteout(['etc', '.wh.motd'])).toEqual({ kind: 'whiteout', target: ['etc', 'motd'] });
  });
  it('recognises an opaque directory marker', () => {
    expect(classifyWhiteout(['opt', 'app', '.wh..wh..opq'])).toEqual({ kind: 'opaque', dir: ['opt', 'app'] });
    expect(classifyWhiteout(['.wh..wh..opq'])).toEqual({ kind: 'opaque', dir: [] });
  });
  it('treats other .wh..wh. names as metadata and plain names as plain', () => {
    expect(classifyWhiteout(['.wh..wh..plnk', 'x'])).toEqual({ kind: 'none' });
    expect(classifyWhiteout(['.wh..wh..plnk'])).toEqual({ kind: 'meta' });
    expect(classifyWhiteout(['etc', 'motd.wh.'])).toEqual({ kind: 'none' });
    expect(classifyWhiteout([])).toEqual({ kind: 'none' });
  });
  it('refuses a whiteout that names nothing or the parent', () => {
    expect(() => classifyWhiteout(['etc', '.wh.'])).toThrow(/names no file/);
    expect(() => classifyWhiteout(['etc', '.wh...'])).toThrow(/names no file/);
  });
});

describe('symlink targets', () => {
  it('resolves relative targets from the link directory', () => {
    expect(resolveSymlinkTarget(['usr', 'bin', 'wget'], '../../bin/busybox')).toEqual(['bin', 'busybox']);
  });
  it('keeps absolute targets inside the root', () => {
    expect(resolveSymlinkTarget(['bin', 'sh'], '/bin/busybox')).toEqual(['bin', 'busybox']);
    expect(() => checkSymlink(['a', 'b'], '/etc/shadow')).not.toThrow();
    // `/..` is `/` inside the container, but no honest image writes it: refused as hostile.
    expect(() => checkSymlink(['a'], '/../../etc/shadow')).toThrow(/outside the image root/);
  });
  it('refuses a relative target that climbs out, naming link and target', () => {
    expect(() => checkSymlink(['usr', 'evil'], '../../etc/passwd')).toThrow(
      'symlink "usr/evil" -> "../../etc/passwd": target resolves outside the image root',
    );
  });
  it('clamps .. at the root while following links during a walk', () => {
    expect(clampedJoin(['a', 'b'], '../../../../x')).toEqual(['x']);
    expect(clampedJoin(['a', 'b'], '/etc')).toEqual(['etc']);
    expect(clampedJoin(['a'], 'c/./d')).toEqual(['a', 'c', 'd']);
  });
});
