import { allDevicesFilter, deviceAcl, DOWNLINK_KINDS, sharedFilter, UPLINK_KINDS } from '@fleet/protocol';
import { brokerUsernameFor, type BrokerAuthority } from '../devices/broker-authority.js';
import { DynsecError, type DynsecAcl, type DynsecClient } from './dynsec-client.js';

/** The share group every hub replica joins; Mosquitto hands each device message to one member. */
export const HUB_SHARE_GROUP = 'hub';
export const HUB_ROLE = 'fleet-hub';

/** One dynsec role per device: Mosquitto 2.0.11 does not substitute `%c`/`%u` in role ACLs. */
export function deviceRoleName(deviceId: string): string {
  return `fleet-device-${deviceId}`;
}

function acl(acltype: DynsecAcl['acltype'], topic: string): DynsecAcl {
  return { acltype, topic, priority: 0, allow: true };
}

/** The role's ACLs: publish exactly the device's uplink topics, subscribe exactly its downlinks. */
export function deviceRoleAcls(deviceId: string): DynsecAcl[] {
  const own = deviceAcl(deviceId);
  return [
    ...own.publish.map((topic) => acl('publishClientSend', topic)),
    // subscribeLiteral compares the requested filter as a string, so `+`/`#` filters that would
    // also cover other devices never match it.
    ...own.subscribe.map((topic) => acl('subscribeLiteral', topic)),
  ];
}

/**
 * The hub's role. The ACL check sees the whole `$share/hub/...` string, so the shared filters are
 * listed as such; plain filters serve a single hub that subscribes without sharing.
 */
export function hubRoleAcls(): DynsecAcl[] {
  return [
    ...UPLINK_KINDS.flatMap((kind) => [
      acl('subscribePattern', sharedFilter(HUB_SHARE_GROUP, kind)),
      acl('subscribePattern', allDevicesFilter(kind)),
    ]),
    ...DOWNLINK_KINDS.map((kind) => acl('publishClientSend', allDevicesFilter(kind))),
  ];
}

function tolerate(kind: DynsecError['kind']) {
  return (error: unknown) => {
    if (error instanceof DynsecError && error.kind === kind) return;
    throw error;
  };
}

/**
 * BrokerAuthority on Mosquitto with the dynamic security plugin. Every change is one or more
 * `$CONTROL` commands; the broker applies each before answering, so a resolved promise means
 * the broker already enforces it (a deleted or re-passworded client is kicked with 0x98).
 *
 * Follows the 2.0.11 traps in docs/broker.md: clients are created without `roles` and linked
 * with `addClientRole` (roles given to `createClient` are never linked and deleting them later
 * leaves a dangling pointer), and each device client is pinned to its client id.
 */
export class MosquittoBrokerAuthority implements BrokerAuthority {
  constructor(private readonly dynsec: DynsecClient) {}

  async upsertDevice(deviceId: string, username: string, password: string): Promise<void> {
    const rolename = deviceRoleName(deviceId);
    await this.dynsec
      .run([{ command: 'createRole', rolename, acls: deviceRoleAcls(deviceId) }])
      .catch(tolerate('already-exists'));
    const [created] = await this.dynsec.execute([
      { command: 'createClient', username, password, clientid: deviceId },
    ]);
    if (created?.error !== undefined) {
      if (!/already exists/i.test(created.error))
        throw new DynsecError('rejected', 'createClient', created.error);
      // Rotation: the password change kicks any live session, the re-pin and enable undo any
      // earlier tampering or a revoke that disabled instead of deleted.
      await this.dynsec.run([
        { command: 'setClientPassword', username, password },
        { command: 'setClientId', username, clientid: deviceId },
        { command: 'enableClient', username },
      ]);
    }
    await this.#ensureClientRole(username, rolename);
  }

  async revokeDevice(deviceId: string): Promise<void> {
    // deleteClient disconnects a live session within milliseconds (DISCONNECT 0x98) and refuses
    // every later CONNECT. Note: Mosquitto publishes no Last Will for a kicked client.
    await this.dynsec
      .run([{ command: 'deleteClient', username: brokerUsernameFor(deviceId) }])
      .catch(tolerate('not-found'));
    await this.dynsec
      .run([{ command: 'deleteRole', rolename: deviceRoleName(deviceId) }])
      .catch(tolerate('not-found'));
  }

  /**
   * Creates the hub's broker identity when missing (role with every ingest filter, plain and
   * shared, plus publishing targets and commands). An existing client keeps its password: every
   * replica calls this at start, and a password change would kick all of them.
   */
  async ensureHubIdentity(username: string, password: string): Promise<void> {
    const [role] = await this.dynsec.execute([{ command: 'getRole', rolename: HUB_ROLE }]);
    if (role?.error !== undefined) {
      await this.dynsec
        .run([{ command: 'createRole', rolename: HUB_ROLE, acls: hubRoleAcls() }])
        .catch(tolerate('already-exists'));
    } else {
      const have = new Set(aclKeys((role?.data as { role?: { acls?: unknown } })?.role?.acls));
      const missing = hubRoleAcls().filter((a) => !have.has(`${a.acltype} ${a.topic}`));
      // Only what is missing: changing a linked role kicks every hub replica holding it.
      for (const acl of missing) {
        await this.dynsec
          .run([{ command: 'addRoleACL', rolename: HUB_ROLE, ...acl }])
          .catch(tolerate('already-exists'));
      }
    }
    await this.dynsec
      .run([{ command: 'createClient', username, password }])
      .catch(tolerate('already-exists'));
    await this.#ensureClientRole(username, HUB_ROLE);
  }

  async #ensureClientRole(username: string, rolename: string): Promise<void> {
    const [client] = await this.dynsec.run([{ command: 'getClient', username }]);
    const roles = (client?.data as { client?: { roles?: { rolename?: unknown }[] } })?.client?.roles ?? [];
    if (roles.some((r) => r.rolename === rolename)) return;
    await this.dynsec.run([{ command: 'addClientRole', username, rolename, priority: 0 }]);
  }
}

function aclKeys(acls: unknown): string[] {
  if (!Array.isArray(acls)) return [];
  return acls.map((a: { acltype?: unknown; topic?: unknown }) => `${String(a.acltype)} ${String(a.topic)}`);
}
