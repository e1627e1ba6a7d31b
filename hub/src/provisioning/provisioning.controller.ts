import { Returns } from '../common/openapi.js';
import { Body, Controller, HttpCode, Post, Inject } from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import { ProvisionRequest, ProvisionResponse } from '@fleet/protocol';
import { Public } from '../auth/principal.js';
import { openApiSchema, ZodPipe, type Parsed } from '../common/validation.js';
import { ProvisioningService } from './provisioning.service.js';

@ApiTags('provisioning')
@Controller('api/v1/provision')
export class ProvisioningController {
  constructor(@Inject(ProvisioningService) private readonly provisioning: ProvisioningService) {}

  /** Authenticated by the claim token in the body. */
  @Post()
  @Public()
  @HttpCode(200)
  @ApiBody({ schema: openApiSchema(ProvisionRequest) })
  @Returns(ProvisionResponse)
  provision(@Body(new ZodPipe(ProvisionRequest)) body: Parsed<ProvisionRequest>): Promise<ProvisionResponse> {
    return this.provisioning.provision(body);
  }
}
