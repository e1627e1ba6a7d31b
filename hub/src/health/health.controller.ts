import { Controller, Get, ServiceUnavailableException, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Public } from '../auth/principal.js';
import { ApiError, Returns } from '../common/openapi.js';
import { HealthRepository } from './health.repository.js';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(@Inject(HealthRepository) private readonly health: HealthRepository) {}

  /** Liveness: the process serves HTTP. */
  @Get('healthz')
  @Public()
  @Returns(z.object({ status: z.literal('ok') }))
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: the database answers and is migrated. */
  @Get('readyz')
  @Public()
  @Returns(z.object({ status: z.literal('ready'), database: z.literal('ok'), migrations: z.number().int() }))
  @Returns(ApiError, 503)
  async readyz(): Promise<{ status: 'ready'; database: 'ok'; migrations: number }> {
    try {
      const { migrations } = await this.health.ping();
      return { status: 'ready', database: 'ok', migrations };
    } catch (error) {
      throw new ServiceUnavailableException({
        statusCode: 503,
        error: 'Service Unavailable',
        message: `database not ready: ${(error as Error).message.split('\n')[0]}`,
      });
    }
  }
}
