import { pageOf, Returns } from '../common/openapi.js';
import {
  Body,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Put,
  Inject,
} from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import {
  actorOf,
  AllowDevice,
  ApiScope,
  CurrentPrincipal,
  CurrentUser,
  MinRole,
  roleAtLeast,
  type Principal,
  type UserPrincipal,
} from '../auth/principal.js';
import { ZodQuery, openApiSchema, ZodPipe, type Page, type Parsed } from '../common/validation.js';
import {
  BulkCommandRequest,
  BulkTagRequest,
  CreateCommandRequest,
  DeviceSummaryQuery,
  HistoryQuery,
  ListDevicesQuery,
  SetTagsRequest,
  UpdateDeviceRequest,
} from './device.dto.js';
import { DevicesService } from './device.service.js';
import {
  BulkCommandResult,
  BulkTagResult,
  ContainerEvent,
  Device,
  DeviceCommand,
  DeviceCredentials,
  DeviceDetail,
  DeviceSummary,
  TagCount,
} from './device.types.js';

const LimitQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });
type LimitQuery = z.infer<typeof LimitQuery>;
const TagsQuery = z.strictObject({ fleetId: z.uuid().optional() });
type TagsQuery = z.infer<typeof TagsQuery>;

@ApiTags('devices')
@ApiScope('devices')
@Controller('api/v1')
export class DeviceController {
  constructor(@Inject(DevicesService) private readonly devices: DevicesService) {}

  /** Filters, keyset pagination (`nextCursor`) and sorting; fast at 100k devices. */
  @Get('devices')
  @Returns(pageOf(Device))
  list(@ZodQuery(ListDevicesQuery) q: Parsed<ListDevicesQuery>): Promise<Page<Device>> {
    return this.devices.list(q);
  }

  @Get('devices/summary')
  @Returns(DeviceSummary)
  summary(@ZodQuery(DeviceSummaryQuery) q: Parsed<DeviceSummaryQuery>): Promise<DeviceSummary> {
    return this.devices.summary(q.fleetId, q.tag ?? []);
  }

  @Get('tags')
  @Returns(z.array(TagCount))
  tags(@ZodQuery(TagsQuery) q: Parsed<TagsQuery>): Promise<TagCount[]> {
    return this.devices.tags(q.fleetId);
  }

  @Post('devices/tags')
  @MinRole('operator')
  @HttpCode(200)
  @ApiBody({ schema: openApiSchema(BulkTagRequest) })
  @Returns(BulkTagResult)
  bulkTag(
    @Body(new ZodPipe(BulkTagRequest)) body: Parsed<BulkTagRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<BulkTagResult> {
    return this.devices.bulkTag(body.deviceIds, body.add, body.remove, actorOf(who));
  }

  @Post('devices/commands')
  @MinRole('operator')
  @HttpCode(200)
  @ApiBody({ schema: openApiSchema(BulkCommandRequest) })
  @Returns(z.array(BulkCommandResult))
  bulkCommand(
    @Body(new ZodPipe(BulkCommandRequest)) body: Parsed<BulkCommandRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<BulkCommandResult[]> {
    return this.devices.sendCommands(body.deviceIds, body.command, actorOf(who));
  }

  @Get('devices/:id')
  @Returns(DeviceDetail)
  get(@Param('id') id: string): Promise<DeviceDetail> {
    return this.devices.get(id);
  }

  @Patch('devices/:id')
  @MinRole('operator')
  @ApiBody({ schema: openApiSchema(UpdateDeviceRequest) })
  @Returns(Device)
  rename(
    @Param('id') id: string,
    @Body(new ZodPipe(UpdateDeviceRequest)) body: Parsed<UpdateDeviceRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<Device> {
    return this.devices.update(id, body, actorOf(who));
  }

  @Put('devices/:id/tags')
  @MinRole('operator')
  @ApiBody({ schema: openApiSchema(SetTagsRequest) })
  @Returns(Device)
  setTags(
    @Param('id') id: string,
    @Body(new ZodPipe(SetTagsRequest)) body: Parsed<SetTagsRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<Device> {
    return this.devices.setTags(id, body.tags, actorOf(who));
  }

  @Get('devices/:id/containers/history')
  @Returns(pageOf(ContainerEvent))
  history(
    @Param('id') id: string,
    @ZodQuery(HistoryQuery) q: Parsed<HistoryQuery>,
  ): Promise<Page<ContainerEvent>> {
    return this.devices.containerHistory(id, q.limit, q.cursor);
  }

  @Post('devices/:id/commands')
  @MinRole('operator')
  @ApiBody({ schema: openApiSchema(CreateCommandRequest) })
  @Returns(DeviceCommand, 201)
  command(
    @Param('id') id: string,
    @Body(new ZodPipe(CreateCommandRequest)) body: Parsed<CreateCommandRequest>,
    @CurrentUser() who: UserPrincipal,
  ): Promise<DeviceCommand> {
    return this.devices.sendCommand(id, body, actorOf(who));
  }

  @Get('devices/:id/commands')
  @Returns(z.array(DeviceCommand))
  commands(@Param('id') id: string, @ZodQuery(LimitQuery) q: Parsed<LimitQuery>): Promise<DeviceCommand[]> {
    return this.devices.listCommands(id, q.limit);
  }

  /** The broker forgets the device at once; its history stays. */
  @Delete('devices/:id')
  @MinRole('operator')
  @HttpCode(204)
  decommission(@Param('id') id: string, @CurrentUser() who: UserPrincipal): Promise<void> {
    return this.devices.decommission(id, actorOf(who));
  }

  /**
   * New broker credentials. Called by the device itself (HTTP Basic with its current ones), or
   * by an admin to lock a leaked credential out (the device must then provision again).
   */
  @Post('devices/:id/credentials')
  @AllowDevice()
  @HttpCode(200)
  @Returns(DeviceCredentials)
  rotate(@Param('id') id: string, @CurrentPrincipal() who: Principal): Promise<DeviceCredentials> {
    if (who.kind === 'device' ? who.deviceId !== id : !roleAtLeast(who.role, 'admin')) {
      throw new ForbiddenException(
        who.kind === 'device' ? 'a device may only rotate its own credentials' : 'this needs role admin',
      );
    }
    return this.devices.rotateCredentials(id, actorOf(who));
  }
}
