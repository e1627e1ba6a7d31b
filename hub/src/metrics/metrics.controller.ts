import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../auth/principal.js';
import { MetricsRegistry } from './metrics.registry.js';

@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(MetricsRegistry) private readonly registry: MetricsRegistry) {}

  @Get()
  @Public()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  render(): string {
    return this.registry.render();
  }
}
