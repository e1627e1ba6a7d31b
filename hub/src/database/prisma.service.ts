import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { PrismaClient } from '../generated/prisma/client.js';

/**
 * The one Prisma client of a hub instance (Nest DI, never a module singleton). It connects
 * lazily on the first query so that building the app (OpenAPI generation, tests of the module
 * graph) needs no database. Note: Prisma 7 returns a proxy, so `instanceof PrismaService` is
 * false; inject by class, never test the type.
 */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  constructor(@Inject(HUB_CONFIG) config: HubConfig) {
    super({
      adapter: new PrismaPg({
        connectionString: config.databaseUrl ?? 'postgresql://invalid.localhost/none',
      }),
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
