import type { ReleaseManifest } from '@fleet/protocol';

/** Every object a manifest references, with where it is referenced. */
export function referencedObjects(m: ReleaseManifest): Array<{ digest: string; size: number; role: string }> {
  const out: Array<{ digest: string; size: number; role: string }> = [];
  for (const [name, c] of Object.entries(m.containers))
    out.push({ digest: c.rootfs.digest, size: c.rootfs.size, role: `containers.${name}.rootfs` });
  for (const part of ['kernel', 'dtb', 'rootfs'] as const) {
    const ref = m.system?.[part];
    if (ref) out.push({ digest: ref.digest, size: ref.size, role: `system.${part}` });
  }
  return out;
}
