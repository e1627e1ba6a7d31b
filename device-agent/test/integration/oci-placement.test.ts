import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The converter is shared by the agent and hubctl (docs/decisions/0020-oci-converter-placement.md):
 * src/oci may import node builtins, zod, @fleet/protocol and itself, nothing of the agent.
 */
describe('oci module placement', () => {
  it('imports nothing from the agent (runtime, store, link, ...)', async () => {
    const dir = join(import.meta.dirname, '../../src/oci');
    const offending: string[] = [];
    const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const text = await fs.readFile(join(dir, f), 'utf8');
      for (const m of text.matchAll(/\bfrom\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
        const spec = (m[1] ?? m[2])!;
        const allowed =
          spec.startsWith('node:') ||
          spec === 'zod' ||
          spec.startsWith('@fleet/protocol') ||
          spec === 'vitest' ||
          /^\.\/[a-z0-9-]+\.js$/.test(spec);
        if (!allowed) offending.push(`${f}: ${spec}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('is exported as the @fleet/device-agent/oci subpath', async () => {
    const pkg = JSON.parse(await fs.readFile(join(import.meta.dirname, '../../package.json'), 'utf8')) as {
      exports: Record<string, { types: string }>;
    };
    expect(pkg.exports['./oci']?.types).toBe('./src/oci/index.ts');
    const mod = await import('@fleet/device-agent/oci');
    expect(typeof mod.importImage).toBe('function');
  });
});
