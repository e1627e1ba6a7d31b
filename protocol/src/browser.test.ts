// The browser entry must not reach a Node built-in through any import: the dashboard bundles it.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('browser.ts and everything it imports use no node: modules and no Buffer', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    expect(text, file).not.toMatch(/from ['"]node:/);
    expect(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''), file).not.toMatch(/\bBuffer\b/);
    for (const m of text.matchAll(/from ['"](\.{1,2}\/[^'"]+)\.js['"]/g))
      visit(join(dirname(file), `${m[1]}.ts`));
  };
  visit(join(here, 'browser.ts'));
  expect(seen.size).toBeGreaterThan(5);
});
