import { describe, expect, it } from 'vitest';
import { parseModuleIndex, resolveModules } from './module-deps.js';

const dep = [
  'kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko',
  'kernel/fs/jbd2/jbd2.ko:',
  'kernel/fs/mbcache.ko:',
  'kernel/lib/crc16.ko:',
  'kernel/drivers/block/virtio_blk.ko:',
  'kernel/fs/nls/nls_iso8859-1.ko:',
  'kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko',
  'kernel/fs/fat/fat.ko:',
  'kernel/a.ko: kernel/b.ko',
  'kernel/b.ko: kernel/a.ko',
].join('\n');
const index = parseModuleIndex(dep, 'kernel/drivers/virtio/virtio.ko\nkernel/lib/crc32c.ko\n');

describe('kernel module resolution from modules.dep', () => {
  it('orders dependencies first, each once', () => {
    expect(resolveModules(index, ['vfat', 'ext4', 'fat', 'virtio-blk'])).toEqual([
      'kernel/fs/fat/fat.ko',
      'kernel/fs/fat/vfat.ko',
      'kernel/lib/crc16.ko',
      'kernel/fs/mbcache.ko',
      'kernel/fs/jbd2/jbd2.ko',
      'kernel/fs/ext4/ext4.ko',
      'kernel/drivers/block/virtio_blk.ko',
    ]);
  });

  it('treats - and _ alike and skips built-in modules', () => {
    expect(resolveModules(index, ['nls_iso8859_1', 'virtio', 'crc32c'])).toEqual([
      'kernel/fs/nls/nls_iso8859-1.ko',
    ]);
  });

  it('names a missing module and who needed it; detects cycles', () => {
    expect(() => resolveModules(index, ['nope'])).toThrow(
      'kernel module nope is neither in modules.dep nor built in',
    );
    expect(() => resolveModules(index, ['a'])).toThrow('kernel module dependency cycle: a -> b -> a');
  });
});
