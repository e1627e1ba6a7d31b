import { type DynamicModule, Module } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WebController } from './web.controller.js';
import { WEB_DIR } from './web.tokens.js';

@Module({})
export class WebModule {
  /** Mounts the dashboard when `dir/index.html` exists; otherwise nothing. */
  static forRoot(dir: string | undefined): DynamicModule {
    if (!dir || !existsSync(join(dir, 'index.html'))) return { module: WebModule };
    return {
      module: WebModule,
      controllers: [WebController],
      providers: [{ provide: WEB_DIR, useValue: resolve(dir) }],
    };
  }
}
