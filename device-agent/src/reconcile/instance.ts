import { createHash } from 'node:crypto';
import { canonicalJson, type ContainerSpec } from '@fleet/protocol';

/**
 * The identity of a container as it runs: its spec hashed (image digest, rootfs digest, start
 * config, resources, volumes, operator config vars: everything). Two revisions that give a
 * container the same spec give it the same instance, which is why an update leaves it running;
 * a changed spec gets a new instance name, so old and new can exist side by side (hand-over,
 * and a stopped old instance kept for a fast rollback).
 */
export function specHash(spec: ContainerSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/**
 * `web` + spec → `web-0123456789ab`: at most 63 characters of a-z, 0-9 and "-", what LXC names
 * (and the runtime) accept. The suffix hashes the name with the spec, so two containers whose
 * long names share the kept prefix still get different instances.
 */
export function instanceName(container: string, spec: ContainerSpec): string {
  const h = createHash('sha256').update(canonicalJson({ container, spec })).digest('hex');
  return `${container.slice(0, 50)}-${h.slice(0, 12)}`;
}

/** Labels the runtime persists with an instance so the agent can adopt it after a restart. */
export const LABEL_CONTAINER = 'fleet.container';
export const LABEL_SPEC_HASH = 'fleet.spec-hash';
export const LABEL_REVISION = 'fleet.revision';
export const LABEL_GROUP = 'fleet.group';
