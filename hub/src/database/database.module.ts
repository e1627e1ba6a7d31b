import { Global, Module } from '@nestjs/common';
import { PgPool } from './pg-pool.js';
import { PrismaService } from './prisma.service.js';

@Global()
@Module({ providers: [PrismaService, PgPool], exports: [PrismaService, PgPool] })
export class DatabaseModule {}
