import { Controller, Get, Inject, NotFoundException, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { Public } from '../auth/principal.js';
import { WEB_DIR } from './web.tokens.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Serves the built dashboard (a single-page app): files under the web folder, and index.html
 * for any other path outside /api, /metrics and the health routes, so client-side routes
 * survive a reload. Hashed assets under assets/ are cached for good; index.html never.
 */
@ApiExcludeController()
@Controller()
export class WebController {
  constructor(@Inject(WEB_DIR) private readonly root: string) {}

  @Get('*')
  @Public()
  async serve(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path.startsWith('/api/') || path === '/api')
      throw new NotFoundException(`no route ${req.method} ${path}`);
    const file = normalize(join(this.root, path));
    let target = join(this.root, 'index.html');
    if (file.startsWith(this.root + sep)) {
      const s = await stat(file).catch(() => null);
      if (s?.isFile()) target = file;
    }
    const isIndex = target.endsWith(`${sep}index.html`);
    await reply
      .header('content-type', TYPES[extname(target)] ?? 'application/octet-stream')
      .header(
        'cache-control',
        isIndex
          ? 'no-cache'
          : target.includes(`${sep}assets${sep}`)
            ? 'public, max-age=31536000, immutable'
            : 'public, max-age=3600',
      )
      .send(createReadStream(target));
  }
}
