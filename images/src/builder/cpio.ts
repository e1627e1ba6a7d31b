/**
 * A reproducible cpio "newc" archive (what the kernel unpacks as an initramfs): entries in
 * the given order, owner 0:0, one fixed mtime, inode numbers assigned in order. Written here
 * rather than with cpio(1) so nothing depends on the build host's files or clock.
 */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'symlink'; path: string; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  mtime: number;
  filesize: number;
  namesize: number;
}): string {
  return [
    '070701',
    hex8(fields.ino),
    hex8(fields.mode),
    hex8(0), // uid
    hex8(0), // gid
    hex8(fields.nlink),
    hex8(fields.mtime),
    hex8(fields.filesize),
    hex8(0), // devmajor
    hex8(0), // devminor
    hex8(0), // rdevmajor
    hex8(0), // rdevminor
    hex8(fields.namesize),
    hex8(0), // check
  ].join('');
}

function member(
  name: string,
  fields: { ino: number; mode: number; nlink: number; mtime: number },
  data: Buffer,
): Buffer[] {
  const nameBuf = Buffer.from(`${name}\0`, 'utf8');
  const head = Buffer.from(header({ ...fields, filesize: data.length, namesize: nameBuf.length }), 'latin1');
  const headAndName = Buffer.concat([head, nameBuf]);
  return [headAndName, pad4(headAndName.length), data, pad4(data.length)];
}

export function cpioNewc(entries: readonly CpioEntry[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    const name = entry.path.replace(/^\/+/, '');
    if (name.length === 0 || name.split('/').includes('..'))
      throw new Error(`cpio: invalid path ${JSON.stringify(entry.path)}`);
    if (seen.has(name)) throw new Error(`cpio: duplicate path ${name}`);
    seen.add(name);
    const ino = index + 1;
    if (entry.kind === 'dir')
      parts.push(
        ...member(name, { ino, mode: S_IFDIR | (entry.mode ?? 0o755), nlink: 2, mtime }, Buffer.alloc(0)),
      );
    else if (entry.kind === 'file')
      parts.push(
        ...member(name, { ino, mode: S_IFREG | (entry.mode ?? 0o644), nlink: 1, mtime }, entry.data),
      );
    else
      parts.push(
        ...member(name, { ino, mode: S_IFLNK | 0o777, nlink: 1, mtime }, Buffer.from(entry.target, 'utf8')),
      );
  });
  parts.push(...member('TRAILER!!!', { ino: 0, mode: 0, nlink: 1, mtime: 0 }, Buffer.alloc(0)));
  return Buffer.concat(parts);
}
