import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import pg from 'pg';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';

/**
 * A small plain `pg` pool beside Prisma, for what Prisma's driver adapter cannot do: `COPY FROM
 * STDIN` (telemetry ingest). Connects lazily, like PrismaService, so building the app needs no
 * database. Per hub instance (Nest DI).
 */
@Injectable()
export class PgPool implements OnModuleDestroy {
  private readonly log = new Logger('PgPool');
  readonly pool: pg.Pool;

  constructor(@Inject(HUB_CONFIG) config: HubConfig) {
    this.pool = new pg.Pool({
      connectionString: config.databaseUrl ?? 'postgresql://invalid.localhost/none',
      max: 2,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its connection (database restart) must not crash the hub: the
    // pool replaces it on the next checkout.
    this.pool.on('error', (e) => this.log.warn(`idle database connection failed: ${e.message}`));
    this.pool.on('connect', (c) => this.open.add(c));
    this.pool.on('remove', (c) => this.open.delete(c));
  }

  async onModuleDestroy(): Promise<void> {
    // pg-pool's end() resolves as soon as it has asked its clients to close: wait for their
    // sockets too, so that whoever drops the database next does not cut one mid-goodbye.
    const closing = this.clients();
    await this.pool.end();
    await closing;
  }

  private readonly open = new Set<pg.PoolClient>();
  private clients(): Promise<void> {
    return Promise.all(
      [...this.open].map(
        (c) =>
          new Promise<void>((resolve) => (c as unknown as NodeJS.EventEmitter).once('end', () => resolve())),
      ),
    ).then(() => undefined);
  }
}
