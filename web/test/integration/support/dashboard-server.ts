// The built dashboard served by `vite preview`, which forwards /api (REST and SSE) to the hub:
// the browser sees one origin, as it will when the hub serves web/dist itself.
import { fileURLToPath } from 'node:url';
import { build, preview, type PreviewServer } from 'vite';
import { freePort } from './hub-process.js';

const WEB_DIR = fileURLToPath(new URL('../../../', import.meta.url));

export async function serveDashboard(hubUrl: string): Promise<{ url: string; close: () => Promise<void> }> {
  // vitest sets NODE_ENV=test, which would make this a development build of React.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      root: WEB_DIR,
      configFile: `${WEB_DIR}vite.config.ts`,
      mode: 'production',
      logLevel: 'warn',
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  const port = await freePort();
  // vite.config.ts reads HUB_URL when it is loaded, and preview reuses server.proxy.
  process.env.HUB_URL = hubUrl;
  const server: PreviewServer = await preview({
    root: WEB_DIR,
    configFile: `${WEB_DIR}vite.config.ts`,
    logLevel: 'warn',
    preview: { host: '127.0.0.1', port, strictPort: true },
  });
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}
