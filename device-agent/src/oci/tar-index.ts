import * as fs from 'node:fs/promises';
import { OciError } from './errors.js';
import { applyPax, BLOCK, padding, parseHeader, parsePaxRecords, type TarHeader } from './tar-header.js';

export interface IndexedEntry {
  header: TarHeader;
  /** Byte offset of the body in the file. */
  offset: number;
}

/**
 * Lists the entries of a plain tar file by reading headers only and seeking over bodies, so
 * a docker-archive of any size is indexed in a few reads and its layers can then be streamed
 * straight from their offsets.
 */
export async function indexTarFile(path: string, what: string): Promise<Map<string, IndexedEntry>> {
  const fh = await fs.open(path, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const out = new Map<string, IndexedEntry>();
    const block = Buffer.alloc(BLOCK);
    let pos = 0;
    let pax = new Map<string, Buffer>();
    let globalPax = new Map<string, Buffer>();
    let longName: string | null = null;
    let longLink: string | null = null;
    const readAt = async (buf: Buffer, at: number): Promise<void> => {
      const { bytesRead } = await fh.read(buf, 0, buf.length, at);
      if (bytesRead !== buf.length) throw new OciError('corrupt-layer', `${what} is truncated at byte ${at}`);
    };
    while (pos + BLOCK <= fileSize) {
      await readAt(block, pos);
      const raw = parseHeader(block);
      if (raw === null) break;
      const bodyAt = pos + BLOCK;
      let bodySize =
        raw.type === 'file' || raw.type.startsWith('pax') || raw.type.startsWith('gnu') ? raw.size : 0;
      if (
        raw.type === 'pax-header' ||
        raw.type === 'pax-global' ||
        raw.type === 'gnu-longname' ||
        raw.type === 'gnu-longlink'
      ) {
        if (bodyAt + bodySize > fileSize)
          throw new OciError('corrupt-layer', `${what} is truncated inside a ${raw.type} entry`);
        if (raw.size > 1 << 20) throw new OciError('corrupt-layer', `${what}: oversized ${raw.type} entry`);
        const data = Buffer.alloc(raw.size);
        await readAt(data, bodyAt);
        if (raw.type === 'pax-header') pax = parsePaxRecords(data);
        else if (raw.type === 'pax-global') globalPax = new Map([...globalPax, ...parsePaxRecords(data)]);
        else {
          const end = data.indexOf(0);
          const text = (end === -1 ? data : data.subarray(0, end)).toString('utf8');
          if (raw.type === 'gnu-longname') longName = text;
          else longLink = text;
        }
      } else {
        const records = new Map([...globalPax, ...pax]);
        let header = applyPax(raw, records);
        if (longName !== null && !records.has('path')) header = { ...header, name: longName };
        if (longLink !== null && !records.has('linkpath')) header = { ...header, linkname: longLink };
        pax = new Map();
        longName = null;
        longLink = null;
        bodySize = header.type === 'file' ? header.size : 0;
        if (bodyAt + bodySize > fileSize)
          throw new OciError('corrupt-layer', `${what} is truncated inside ${JSON.stringify(header.name)}`);
        const name = header.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
        out.set(name, { header: { ...header, name }, offset: bodyAt });
      }
      pos = bodyAt + bodySize + padding(bodySize);
    }
    return out;
  } finally {
    await fh.close();
  }
}
