// The dashboard as it ships: a production build, which the hub then serves itself (HUB_WEB_DIR),
// so the browser talks to one origin exactly as a user's does.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const WEB_DIR = fileURLToPath(new URL('../../../', import.meta.url));

/** Builds into a fresh temporary folder (web/dist is left alone) and returns it. */
export async function buildDashboard(): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'fleet-web-dist-'));
  // vitest sets NODE_ENV=test, which would make this a development build of React.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      root: WEB_DIR,
      configFile: `${WEB_DIR}vite.config.ts`,
      mode: 'production',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  return outDir;
}
