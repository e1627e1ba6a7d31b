import { Returns } from '../common/openapi.js';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Inject } from '@nestjs/common';
import { z } from 'zod';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import { actorOf, ApiScope, CurrentUser, MinRole, type UserPrincipal } from '../auth/principal.js';
import { openApiSchema, ZodPipe, type Parsed } from '../common/validation.js';
import { CreateClaimTokenRequest, CreateFleetRequest, UpdateFleetRequest } from './fleet.dto.js';
import { FleetService } from './fleet.service.js';
import { ClaimToken, Fleet, NewClaimToken } from './fleet.types.js';

@ApiTags('fleets')
@ApiScope('fleets')
@Controller('api/v1')
export class FleetController {
  constructor(@Inject(FleetService) private readonly fleets: FleetService) {}

  @Get('fleets')
  @Returns(z.array(Fleet))
  list(): Promise<Fleet[]> {
    return this.fleets.list();
  }

  @Post('fleets')
  @MinRole('operator')
  @ApiBody({ schema: openApiSchema(CreateFleetRequest) })
  @Returns(Fleet, 201)
  create(
    @Body(new ZodPipe(CreateFleetRequest)) body: Parsed<CreateFleetRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<Fleet> {
    return this.fleets.create(body, actorOf(who));
  }

  @Get('fleets/:fleet')
  @Returns(Fleet)
  get(@Param('fleet') fleet: string): Promise<Fleet> {
    return this.fleets.get(fleet);
  }

  @Patch('fleets/:fleet')
  @MinRole('operator')
  @ApiBody({ schema: openApiSchema(UpdateFleetRequest) })
  @Returns(Fleet)
  update(
    @Param('fleet') fleet: string,
    @Body(new ZodPipe(UpdateFleetRequest)) body: Parsed<UpdateFleetRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<Fleet> {
    return this.fleets.update(fleet, body.description, actorOf(who));
  }

  @Delete('fleets/:fleet')
  @MinRole('admin')
  @HttpCode(204)
  delete(@Param('fleet') fleet: string, @CurrentUser() who: UserPrincipal): Promise<void> {
    return this.fleets.delete(fleet, actorOf(who));
  }

  /** The token itself is in this answer only. */
  @Post('fleets/:fleet/claim-tokens')
  @MinRole('operator')
  @ApiBody({ schema: openApiSchema(CreateClaimTokenRequest) })
  @Returns(NewClaimToken, 201)
  async createClaimToken(
    @Param('fleet') fleet: string,
    @Body(new ZodPipe(CreateClaimTokenRequest)) body: Parsed<CreateClaimTokenRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<NewClaimToken> {
    const { token, info } = await this.fleets.createClaimToken(fleet, body, actorOf(who));
    return { ...info, token };
  }

  @Get('fleets/:fleet/claim-tokens')
  @MinRole('operator')
  @Returns(z.array(ClaimToken))
  listClaimTokens(@Param('fleet') fleet: string): Promise<ClaimToken[]> {
    return this.fleets.listClaimTokens(fleet);
  }

  @Delete('claim-tokens/:id')
  @MinRole('operator')
  @Returns(ClaimToken)
  revokeClaimToken(@Param('id') id: string, @CurrentUser() who: UserPrincipal): Promise<ClaimToken> {
    return this.fleets.revokeClaimToken(id, actorOf(who));
  }
}
