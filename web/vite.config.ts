import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dashboard talks to the hub on the same origin (the hub serves dist/). In development the
// vite server forwards /api (REST and the SSE stream) to the hub named by HUB_URL.
const hubUrl = process.env.HUB_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target: hubUrl, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: true,
  },
});
