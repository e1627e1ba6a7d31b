import { Body, Controller, Delete, Get, Inject, Param, Put } from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import { MaintenanceWindow } from '@fleet/protocol';
import { z } from 'zod';
import { actorOf, ApiScope, CurrentUser, MinRole, type UserPrincipal } from '../auth/principal.js';
import { Returns } from '../common/openapi.js';
import { openApiSchema, parseOr400, ZodPipe, type Parsed } from '../common/validation.js';
import { MaintenanceWindow as WindowSchema, SetVariableRequest, VariablePath } from './config-var.dto.js';
import { ConfigVarsService } from './config-var.service.js';
import {
  ConfigChangeResult,
  ConfigVariableList,
  EffectiveConfig,
  type ConfigScopeType,
} from './config-var.types.js';

const FleetWindow = z.object({ fleetId: z.string(), window: MaintenanceWindow.nullable() });
const WindowChange = FleetWindow.extend({ delivered: z.number().int() });

function path(container: string, name: string): VariablePath {
  return parseOr400(VariablePath, { container, name }, 'path');
}

@ApiTags('config')
@ApiScope('fleets')
@Controller('api/v1')
export class ConfigVarController {
  constructor(@Inject(ConfigVarsService) private readonly vars: ConfigVarsService) {}

  // ---- fleet variables ----

  @Get('fleets/:fleet/env')
  @Returns(ConfigVariableList)
  fleetList(@Param('fleet') fleet: string): Promise<ConfigVariableList> {
    return this.vars.list('fleet', fleet);
  }

  /** Sets one variable of one container for the whole fleet; devices get it with their target. */
  @Put('fleets/:fleet/env/:container/:name')
  @MinRole('operator')
  @Returns(ConfigChangeResult)
  @ApiBody({ schema: openApiSchema(SetVariableRequest) })
  fleetSet(
    @Param('fleet') fleet: string,
    @Param('container') container: string,
    @Param('name') name: string,
    @Body(new ZodPipe(SetVariableRequest)) body: Parsed<SetVariableRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<ConfigChangeResult> {
    return this.change('fleet', fleet, container, name, body.value, who);
  }

  @Delete('fleets/:fleet/env/:container/:name')
  @MinRole('operator')
  @Returns(ConfigChangeResult)
  fleetUnset(
    @Param('fleet') fleet: string,
    @Param('container') container: string,
    @Param('name') name: string,
    @CurrentUser() who: UserPrincipal,
  ): Promise<ConfigChangeResult> {
    return this.change('fleet', fleet, container, name, null, who);
  }

  // ---- device variables (override the fleet's) ----

  @Get('devices/:id/env')
  @Returns(ConfigVariableList)
  deviceList(@Param('id') id: string): Promise<ConfigVariableList> {
    return this.vars.list('device', id);
  }

  /** What the device receives: fleet variables overlaid with its own, and the version. */
  @Get('devices/:id/env/effective')
  @Returns(EffectiveConfig)
  effective(@Param('id') id: string): Promise<EffectiveConfig> {
    return this.vars.effective(id);
  }

  @Put('devices/:id/env/:container/:name')
  @MinRole('operator')
  @Returns(ConfigChangeResult)
  @ApiBody({ schema: openApiSchema(SetVariableRequest) })
  deviceSet(
    @Param('id') id: string,
    @Param('container') container: string,
    @Param('name') name: string,
    @Body(new ZodPipe(SetVariableRequest)) body: Parsed<SetVariableRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<ConfigChangeResult> {
    return this.change('device', id, container, name, body.value, who);
  }

  @Delete('devices/:id/env/:container/:name')
  @MinRole('operator')
  @Returns(ConfigChangeResult)
  deviceUnset(
    @Param('id') id: string,
    @Param('container') container: string,
    @Param('name') name: string,
    @CurrentUser() who: UserPrincipal,
  ): Promise<ConfigChangeResult> {
    return this.change('device', id, container, name, null, who);
  }

  // ---- maintenance window ----

  @Get('fleets/:fleet/window')
  @Returns(FleetWindow)
  window(@Param('fleet') fleet: string): Promise<{ fleetId: string; window: MaintenanceWindow | null }> {
    return this.vars.window(fleet);
  }

  /** Devices of the fleet download at once but install only inside this window (device-local time). */
  @Put('fleets/:fleet/window')
  @MinRole('operator')
  @Returns(WindowChange)
  @ApiBody({ schema: openApiSchema(WindowSchema) })
  setWindow(
    @Param('fleet') fleet: string,
    @Body(new ZodPipe(WindowSchema)) body: Parsed<MaintenanceWindow>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<{ fleetId: string; window: MaintenanceWindow | null; delivered: number }> {
    return this.vars.setWindow(fleet, body, actorOf(who));
  }

  @Delete('fleets/:fleet/window')
  @MinRole('operator')
  @Returns(WindowChange)
  clearWindow(
    @Param('fleet') fleet: string,
    @CurrentUser() who: UserPrincipal,
  ): Promise<{ fleetId: string; window: MaintenanceWindow | null; delivered: number }> {
    return this.vars.setWindow(fleet, null, actorOf(who));
  }

  private change(
    scope: ConfigScopeType,
    id: string,
    container: string,
    name: string,
    value: string | null,
    who: UserPrincipal,
  ): Promise<ConfigChangeResult> {
    const p = path(container, name);
    return this.vars.change(scope, id, p.container, p.name, value, actorOf(who));
  }
}
