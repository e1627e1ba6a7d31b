import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Res } from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { actorOf, ApiScope, CurrentUser, MinRole, type UserPrincipal } from '../auth/principal.js';
import { pageOf, Returns } from '../common/openapi.js';
import { openApiSchema, ZodPipe, ZodQuery, type Page, type Parsed } from '../common/validation.js';
import { ActionRequest, ListRolloutDevicesQuery, ListRolloutsQuery, RolloutSpec } from './rollout.dto.js';
import type { RolloutAction } from './rollout.model.js';
import { RolloutService } from './rollout.service.js';
import { ApplyRolloutResult, DryRunReport, RolloutDetail, RolloutDevice } from './rollout.types.js';

@ApiTags('rollouts')
@ApiScope('fleets')
@Controller('api/v1/rollouts')
export class RolloutController {
  constructor(@Inject(RolloutService) private readonly rollouts: RolloutService) {}

  /** Starts a rollout (201). 409 when the fleet already has a running or paused one. */
  @Post()
  @MinRole('operator')
  @Returns(RolloutDetail, 201)
  @ApiBody({ schema: openApiSchema(RolloutSpec) })
  create(
    @Body(new ZodPipe(RolloutSpec)) body: Parsed<RolloutSpec>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<RolloutDetail> {
    return this.rollouts.create(body, actorOf(who));
  }

  /** What the rollout would do, per device (download bytes, free space, compatibility); changes nothing. */
  @Post('dry-run')
  @HttpCode(200)
  @Returns(DryRunReport)
  @ApiBody({ schema: openApiSchema(RolloutSpec) })
  dryRun(@Body(new ZodPipe(RolloutSpec)) body: Parsed<RolloutSpec>): Promise<DryRunReport> {
    return this.rollouts.dryRun(body);
  }

  /** Declarative create-or-update by name (hubctl apply): 201 created, 200 updated or unchanged. */
  @Put('by-name/:name')
  @MinRole('operator')
  @Returns(ApplyRolloutResult, 201)
  @Returns(ApplyRolloutResult, 200)
  @ApiBody({ schema: openApiSchema(RolloutSpec) })
  async apply(
    @Param('name') name: string,
    @Body(new ZodPipe(RolloutSpec.omit({ name: true }))) body: Parsed<Omit<RolloutSpec, 'name'>>,
    @CurrentUser() who: UserPrincipal,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ApplyRolloutResult> {
    const spec = new ZodPipe(RolloutSpec, 'path parameter name').transform({ ...body, name });
    const { rollout, outcome } = await this.rollouts.apply(spec, actorOf(who));
    reply.code(outcome === 'created' ? 201 : 200);
    return { outcome, rollout };
  }

  @Get()
  @Returns(pageOf(RolloutDetail))
  list(@ZodQuery(ListRolloutsQuery) q: Parsed<ListRolloutsQuery>): Promise<Page<RolloutDetail>> {
    return this.rollouts.list(q);
  }

  /** By id or name: state, counts per device state and per phase. */
  @Get(':rollout')
  @Returns(RolloutDetail)
  get(@Param('rollout') rollout: string): Promise<RolloutDetail> {
    return this.rollouts.get(rollout);
  }

  @Get(':rollout/devices')
  @Returns(pageOf(RolloutDevice))
  devices(
    @Param('rollout') rollout: string,
    @ZodQuery(ListRolloutDevicesQuery) q: Parsed<ListRolloutDevicesQuery>,
  ): Promise<Page<RolloutDevice>> {
    return this.rollouts.devices(rollout, q);
  }

  @Post(':rollout/pause')
  @MinRole('operator')
  @HttpCode(200)
  @Returns(RolloutDetail)
  @ApiBody({ schema: openApiSchema(ActionRequest), required: false })
  pause(
    @Param('rollout') r: string,
    @Body(new ZodPipe(ActionRequest.optional())) b: Parsed<ActionRequest> | undefined,
    @CurrentUser() who: UserPrincipal,
  ): Promise<RolloutDetail> {
    return this.act(r, 'pause', who, b);
  }

  @Post(':rollout/resume')
  @MinRole('operator')
  @HttpCode(200)
  @Returns(RolloutDetail)
  @ApiBody({ schema: openApiSchema(ActionRequest), required: false })
  resume(
    @Param('rollout') r: string,
    @Body(new ZodPipe(ActionRequest.optional())) b: Parsed<ActionRequest> | undefined,
    @CurrentUser() who: UserPrincipal,
  ): Promise<RolloutDetail> {
    return this.act(r, 'resume', who, b);
  }

  /** Devices not started never start; devices mid-update finish. */
  @Post(':rollout/abort')
  @MinRole('operator')
  @HttpCode(200)
  @Returns(RolloutDetail)
  @ApiBody({ schema: openApiSchema(ActionRequest), required: false })
  abort(
    @Param('rollout') r: string,
    @Body(new ZodPipe(ActionRequest.optional())) b: Parsed<ActionRequest> | undefined,
    @CurrentUser() who: UserPrincipal,
  ): Promise<RolloutDetail> {
    return this.act(r, 'abort', who, b);
  }

  /** Every device that got the release is sent back to the release it ran before. */
  @Post(':rollout/rollback')
  @MinRole('operator')
  @HttpCode(200)
  @Returns(RolloutDetail)
  @ApiBody({ schema: openApiSchema(ActionRequest), required: false })
  rollback(
    @Param('rollout') r: string,
    @Body(new ZodPipe(ActionRequest.optional())) b: Parsed<ActionRequest> | undefined,
    @CurrentUser() who: UserPrincipal,
  ): Promise<RolloutDetail> {
    return this.act(r, 'rollback', who, b);
  }

  private act(
    r: string,
    action: RolloutAction,
    who: UserPrincipal,
    b: ActionRequest | undefined,
  ): Promise<RolloutDetail> {
    return this.rollouts.act(r, action, actorOf(who), b?.reason);
  }
}
