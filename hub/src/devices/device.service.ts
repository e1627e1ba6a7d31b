import {
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { Command, CommandAck, Presence, Report } from '@fleet/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../auth/principal.js';
import { newSecret, sha256Hex } from '../common/sha256.js';
import { decodeCursor, encodeCursor, type Page } from '../common/validation.js';
import { EventBus } from '../events/event-bus.js';
import { MetricsRegistry, type Counter } from '../metrics/metrics.registry.js';
import { BROKER_AUTHORITY, brokerUsernameFor, type BrokerAuthority } from './broker-authority.js';
import { COMMAND_PUBLISHER, type CommandPublisher } from './command-publisher.js';
import type { CreateCommandRequest, ListDevicesQuery } from './device.dto.js';
import {
  batchItemProblem,
  DeviceRepository,
  presenceTexts,
  reportTexts,
  type PresenceBatchItem,
  type ReportBatchItem,
} from './device.repository.js';
import type {
  ContainerEvent,
  Device,
  DeviceCommand,
  DeviceDetail,
  DeviceListFilter,
  DeviceSummary,
} from './device.types.js';
import { z } from 'zod';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CursorShape = z.object({ key: z.string().max(300), id: z.uuid(), sort: z.string() });

@Injectable()
export class DevicesService {
  private readonly log = new Logger('DevicesService');
  private readonly unknownDeviceMessages: Counter;
  private readonly staleMessages: Counter;
  private readonly refusedMessages: Counter;

  constructor(
    @Inject(DeviceRepository) private readonly repo: DeviceRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(EventBus) private readonly events: EventBus,
    @Inject(BROKER_AUTHORITY) private readonly broker: BrokerAuthority,
    @Inject(COMMAND_PUBLISHER) private readonly publisher: CommandPublisher,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
  ) {
    this.unknownDeviceMessages = metrics.counter(
      'fleet_hub_unknown_device_messages_total',
      'Device messages for unknown or decommissioned devices, dropped.',
    );
    this.staleMessages = metrics.counter(
      'fleet_hub_stale_device_messages_total',
      'Presence and reports skipped because a newer one of the same device was already applied (replicas applying out of order).',
    );
    this.refusedMessages = metrics.counter(
      'fleet_hub_refused_device_messages_total',
      'Device state messages the database cannot hold (text with a NUL character), logged and dropped.',
    );
  }

  // ---- queries ----

  async list(q: ListDevicesQuery): Promise<Page<Device>> {
    const filter: DeviceListFilter = {
      fleetId: q.fleetId,
      tags: q.tag ?? [],
      status: q.status,
      release: q.release,
      q: q.q,
      includeDecommissioned: q.includeDecommissioned,
    };
    let after = null;
    if (q.cursor) {
      const c = decodeCursor(CursorShape, q.cursor);
      // A cursor is only valid for the sort it was made with.
      if (c.sort !== q.sort)
        throw new ConflictException('cursor was made for another sort order; start again without cursor');
      after = { key: c.key, id: c.id };
    }
    const { items, next } = await this.repo.list(filter, q.sort, q.limit, after);
    return { items, nextCursor: next ? encodeCursor({ ...next, sort: q.sort }) : null };
  }

  summary(fleetId: string | undefined, tags: string[]): Promise<DeviceSummary> {
    return this.repo.summary({ fleetId, tags, includeDecommissioned: false });
  }

  async get(id: string): Promise<DeviceDetail> {
    const d = UUID.test(id) ? await this.repo.findDetail(id) : null;
    if (!d) throw new NotFoundException(`no device ${id}`);
    return d;
  }

  async containerHistory(
    id: string,
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<ContainerEvent>> {
    await this.getActive(id, true);
    const beforeId = cursor
      ? BigInt(decodeCursor(z.object({ id: z.string().regex(/^\d+$/) }), cursor).id)
      : null;
    const rows = await this.repo.containerHistory(id, limit + 1, beforeId);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCursor({ id: last.id }) : null };
  }

  tags(fleetId: string | undefined): Promise<Array<{ tag: string; count: number }>> {
    return this.repo.distinctTags(fleetId);
  }

  // ---- operator actions ----

  /** Renames a device and/or moves it to another fleet. */
  async update(
    id: string,
    patch: { name?: string | undefined; fleetId?: string | undefined },
    actor: Actor,
  ): Promise<Device> {
    const d = await this.getActive(id);
    if (!(await this.repo.update(id, patch))) throw new NotFoundException(`no fleet ${patch.fleetId}`);
    const after = {
      ...d,
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.fleetId ? { fleetId: patch.fleetId } : {}),
    };
    await this.audit.record(
      actor,
      'device.update',
      { type: 'device', id },
      {
        ...(patch.name !== undefined ? { name: { from: d.name, to: patch.name } } : {}),
        ...(patch.fleetId ? { fleetId: { from: d.fleetId, to: patch.fleetId } } : {}),
      },
    );
    this.events.publish({
      type: 'device.updated',
      scope: 'devices',
      minRole: 'viewer',
      deviceId: id,
      fleetId: after.fleetId,
      data: { name: after.name, fleetId: after.fleetId },
    });
    return after;
  }

  async setTags(id: string, tags: string[], actor: Actor): Promise<Device> {
    const d = await this.getActive(id);
    const unique = [...new Set(tags)].sort();
    await this.repo.setTags([id], { set: unique });
    await this.audit.record(actor, 'device.tags.set', { type: 'device', id }, { from: d.tags, to: unique });
    this.events.publish({
      type: 'device.updated',
      scope: 'devices',
      minRole: 'viewer',
      deviceId: id,
      fleetId: d.fleetId,
      data: { tags: unique },
    });
    return { ...d, tags: unique };
  }

  async bulkTag(ids: string[], add: string[], remove: string[], actor: Actor): Promise<{ updated: number }> {
    const updated = await this.repo.setTags(ids, { add, remove });
    await this.audit.record(
      actor,
      'device.tags.bulk',
      { type: 'device' },
      { deviceIds: ids, add, remove, updated },
    );
    return { updated };
  }

  /**
   * Decommission: the broker forgets the device first (its session is cut at once), then the
   * row is marked, offline (a kicked client gets no Last Will on either broker, so no offline
   * presence will ever come); a device that is decommissioned twice gets a 404 the second time.
   */
  async decommission(id: string, actor: Actor): Promise<void> {
    const d = await this.getActive(id);
    await this.broker.revokeDevice(id);
    const now = new Date();
    await this.repo.decommission(id, now);
    await this.audit.record(
      actor,
      'device.decommission',
      { type: 'device', id },
      { name: d.name, hardwareId: d.hardwareId },
    );
    this.events.publish({
      type: 'device.decommissioned',
      scope: 'devices',
      minRole: 'viewer',
      deviceId: id,
      fleetId: d.fleetId,
      data: {},
    });
    if (d.online) {
      this.events.publish({
        type: 'device.presence',
        scope: 'devices',
        minRole: 'viewer',
        deviceId: id,
        fleetId: d.fleetId,
        data: { state: 'offline', at: now.toISOString() },
      });
    }
  }

  /**
   * Issues the device new broker credentials (the device asks, authenticated with the old
   * ones). The broker is updated before the answer: the old password stops working at once.
   */
  async rotateCredentials(
    id: string,
    actor: Actor,
  ): Promise<{ username: string; password: string; clientId: string }> {
    await this.getActive(id);
    const password = newSecret();
    const username = brokerUsernameFor(id);
    try {
      await this.broker.upsertDevice(id, username, password);
    } catch (error) {
      this.log.error(`broker refused credentials of device ${id}: ${(error as Error).message}`);
      throw new ServiceUnavailableException(
        'the broker did not accept the new credentials; the old ones still work, try again',
      );
    }
    await this.repo.setCredentials(id, sha256Hex(password), new Date());
    await this.audit.record(actor, 'device.credentials.rotate', { type: 'device', id });
    return { username, password, clientId: id };
  }

  async sendCommand(id: string, req: CreateCommandRequest, actor: Actor): Promise<DeviceCommand> {
    const d = await this.getActive(id);
    const { kind, ...params } = req;
    const cmd = await this.repo.createCommand({ deviceId: id, kind, params, createdBy: actor.id });
    const wire = { commandId: cmd.id, name: kind, ...params } as Command;
    let result: DeviceCommand;
    try {
      await this.publisher.publishCommand(id, wire);
      const sentAt = new Date();
      await this.repo.markCommand(cmd.id, 'sent', { sentAt });
      result = { ...cmd, status: 'sent', sentAt };
    } catch (error) {
      const message = `publish failed: ${(error as Error).message}`;
      await this.repo.markCommand(cmd.id, 'publish_failed', { message });
      result = { ...cmd, status: 'publish_failed', message };
    }
    await this.audit.record(
      actor,
      'device.command',
      { type: 'device', id },
      { commandId: cmd.id, kind, params, status: result.status },
    );
    this.events.publish({
      type: 'device.command',
      scope: 'devices',
      minRole: 'viewer',
      deviceId: id,
      fleetId: d.fleetId,
      data: { commandId: cmd.id, kind, status: result.status },
    });
    return result;
  }

  /** The same command to many devices (dashboard bulk actions); one result per device. */
  async sendCommands(
    ids: string[],
    req: CreateCommandRequest,
    actor: Actor,
  ): Promise<Array<{ deviceId: string; command: DeviceCommand | null; error: string | null }>> {
    const out: Array<{ deviceId: string; command: DeviceCommand | null; error: string | null }> = [];
    for (const id of new Set(ids)) {
      try {
        out.push({ deviceId: id, command: await this.sendCommand(id, req, actor), error: null });
      } catch (error) {
        if (!(error instanceof NotFoundException)) throw error;
        out.push({ deviceId: id, command: null, error: error.message });
      }
    }
    return out;
  }

  async listCommands(id: string, limit: number): Promise<DeviceCommand[]> {
    await this.getActive(id, true);
    return this.repo.listCommands(id, limit);
  }

  // ---- ingest side (called by hub/src/ingest for authenticated device messages) ----

  /**
   * Presence (LWT `offline` included). Returns false for an unknown/decommissioned device.
   *
   * `at` is the hub's receive time: last seen and the order of live presences use it, because
   * the Last Will's envelope time is when the device *connected* (it is built before the
   * CONNECT), so by the device's clock a session's offline is older than its own online.
   * `origin` (from ingest): the envelope time and whether the broker's retained store
   * delivered it. A retained presence (at subscribe time, possibly hours old) is the broker's
   * current value: it is applied, but dated by the device (capped at arrival) and it does not
   * move the order mark. A live presence received before the one already applied (another hub
   * replica was faster) is skipped. Without `origin` the presence counts as live.
   */
  async recordPresence(
    deviceId: string,
    presence: Presence,
    at: Date,
    origin?: { sentAt: Date; retained: boolean },
  ): Promise<boolean> {
    const [known] = await this.recordPresences([{ deviceId, presence, at, ...(origin ? { origin } : {}) }]);
    return known!;
  }

  /**
   * `recordPresence` for many devices at once (ingest's batches): one statement, then the same
   * events, counters and logs per device as one by one. A device id may appear once per call.
   * An item the database cannot hold (text with a NUL character) is left out with a logged,
   * counted error and the others are stored. Returns, per item, whether the device is known.
   */
  async recordPresences(
    items: ReadonlyArray<{
      deviceId: string;
      presence: Presence;
      at: Date;
      origin?: { sentAt: Date; retained: boolean };
    }>,
  ): Promise<boolean[]> {
    const known = items.map(() => false);
    const writes: Array<{ index: number; seenAt: Date } & PresenceBatchItem> = [];
    items.forEach(({ deviceId, presence, at, origin }, index) => {
      if (!UUID.test(deviceId)) return void this.unknown(deviceId, 'presence');
      const retained = origin?.retained === true;
      const seenAt = retained && origin.sentAt < at ? origin.sentAt : at;
      const write = { index, id: deviceId, presence, seenAt, orderAt: retained ? null : at };
      if (this.refused(write, 'presence', presenceTexts)) return;
      writes.push(write);
    });
    const results = await this.repo.recordPresences(writes);
    results.forEach(({ fleetId, applied }, k) => {
      const { index, id: deviceId, presence, seenAt } = writes[k]!;
      if (!fleetId) return void this.unknown(deviceId, 'presence');
      known[index] = true;
      if (!applied) return void this.staleMessages.inc({ kind: 'presence' });
      this.events.publish({
        type: 'device.presence',
        scope: 'devices',
        minRole: 'viewer',
        deviceId,
        fleetId,
        data: { state: presence.state, at: seenAt.toISOString() },
      });
    });
    return known;
  }

  /**
   * A full state report. Returns false for an unknown/decommissioned device. `at` is the hub's
   * receive time (last seen, container history); `sentAt` the envelope time, which orders a
   * device's reports: one older than the report already applied (Mosquitto hands a shared
   * subscription's messages to replicas one by one, so two replicas can apply one device's
   * reports in either order) is skipped. A device clock ahead of the hub is capped at the
   * receive time, so a later clock correction cannot hold its reports back; a new boot id
   * clears the mark (presence). Without `sentAt` the receive time orders it.
   */
  async recordReport(deviceId: string, report: Report, at: Date, sentAt: Date = at): Promise<boolean> {
    const [known] = await this.recordReports([{ deviceId, report, at, sentAt }]);
    return known!;
  }

  /**
   * `recordReport` for many devices at once (ingest's batches): one transaction of two
   * statements, then the same `device.report` events (with the container changes), counters
   * and logs per device as one by one. A device id may appear once per call. An item the
   * database cannot hold (text with a NUL character) is left out with a logged, counted error
   * and the others are stored. Returns, per item, whether the device is known.
   */
  async recordReports(
    items: ReadonlyArray<{ deviceId: string; report: Report; at: Date; sentAt?: Date }>,
  ): Promise<boolean[]> {
    const known = items.map(() => false);
    const writes: Array<{ index: number } & ReportBatchItem> = [];
    items.forEach(({ deviceId, report, at, sentAt = at }, index) => {
      if (!UUID.test(deviceId)) return void this.unknown(deviceId, 'report');
      const write = { index, id: deviceId, report, at, sentAt: sentAt < at ? sentAt : at };
      if (this.refused(write, 'report', reportTexts)) return;
      writes.push(write);
    });
    const results = await this.repo.recordReports(writes);
    results.forEach(({ fleetId, applied, changed }, k) => {
      const { index, id: deviceId, report } = writes[k]!;
      if (!fleetId) return void this.unknown(deviceId, 'report');
      known[index] = true;
      if (!applied) return void this.staleMessages.inc({ kind: 'report' });
      this.events.publish({
        type: 'device.report',
        scope: 'devices',
        minRole: 'viewer',
        deviceId,
        fleetId,
        data: {
          revision: report.revision,
          updateState: report.updateState,
          containers: report.containers,
          changed: changed.map((c) => ({ name: c.name, from: c.fromState, to: c.toState })),
        },
      });
    });
    return known;
  }

  /** Logs and counts an item the database cannot hold (see `batchItemProblem`); true if so. */
  private refused<T extends { id: string }>(
    item: T,
    kind: 'presence' | 'report',
    texts: (item: T) => Array<string | null | undefined>,
  ): boolean {
    const problem = batchItemProblem(item, texts);
    if (problem === undefined) return false;
    this.refusedMessages.inc({ kind });
    this.log.error(`dropped ${kind} from device ${item.id}: ${problem}`);
    return true;
  }

  /** A command acknowledgement. Acks for unknown commands or other devices' commands are dropped. */
  async recordCommandAck(deviceId: string, ack: CommandAck, at: Date): Promise<boolean> {
    const cmd = UUID.test(ack.commandId) ? await this.repo.findCommand(ack.commandId) : null;
    if (!cmd || cmd.deviceId !== deviceId) return this.unknown(deviceId, 'ack');
    const patch = { ackAt: at, message: ack.message ?? null };
    await this.repo.markCommand(cmd.id, ack.status, patch);
    this.events.publish({
      type: 'device.command',
      scope: 'devices',
      minRole: 'viewer',
      deviceId,
      data: { commandId: cmd.id, kind: cmd.kind, status: ack.status, message: ack.message ?? null },
    });
    return true;
  }

  /**
   * `recordCommandAck` for many acks at once (ingest's batches, decision 0092): one transaction,
   * then the same events, counters and logs per ack as one by one, in item order. Several acks
   * of one command apply in item order. An ack the database cannot hold (a NUL character in
   * its message) is left out with a logged, counted error. Returns, per item, whether it was
   * stored.
   */
  async recordCommandAcks(
    items: ReadonlyArray<{ deviceId: string; ack: CommandAck; at: Date }>,
  ): Promise<boolean[]> {
    const stored = items.map(() => false);
    const writes: Array<{ index: number; deviceId: string; ack: CommandAck; at: Date }> = [];
    items.forEach((item, index) => {
      if (!UUID.test(item.ack.commandId)) return void this.unknown(item.deviceId, 'ack');
      if (item.ack.message?.includes('\u0000')) {
        this.refusedMessages.inc({ kind: 'ack' });
        this.log.error(
          `dropped ack from device ${item.deviceId}: a text field contains a NUL character (U+0000)`,
        );
        return;
      }
      writes.push({ index, ...item });
    });
    const results = await this.repo.recordAcks(writes);
    results.forEach((cmd, k) => {
      const { index, deviceId, ack } = writes[k]!;
      if (!cmd) return void this.unknown(deviceId, 'ack');
      stored[index] = true;
      this.events.publish({
        type: 'device.command',
        scope: 'devices',
        minRole: 'viewer',
        deviceId,
        data: { commandId: cmd.commandId, kind: cmd.kind, status: ack.status, message: ack.message ?? null },
      });
    });
    return stored;
  }

  private unknown(deviceId: string, kind: string): false {
    this.unknownDeviceMessages.inc({ kind });
    this.log.warn(`dropped ${kind} from unknown or decommissioned device ${deviceId}`);
    return false;
  }

  private async getActive(id: string, allowDecommissioned = false): Promise<Device> {
    const d = UUID.test(id) ? await this.repo.find(id) : null;
    if (!d || (!allowDecommissioned && d.decommissionedAt)) throw new NotFoundException(`no device ${id}`);
    return d;
  }
}
