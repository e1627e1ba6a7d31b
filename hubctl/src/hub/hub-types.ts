import { ReleaseManifest } from '@fleet/protocol';
import { z } from 'zod';

/*
 * Responses of the hub's API that hubctl reads, as zod schemas (decision 0085): the hub's
 * OpenAPI document describes request bodies and query parameters but no response bodies, so
 * types generated from it would be `unknown` exactly where hubctl needs them. Objects are not
 * strict: a newer hub may add fields. Dates travel as ISO strings.
 */

const When = z.string();

export const Page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const Principal = z.object({
  kind: z.literal('user'),
  userId: z.string(),
  email: z.string(),
  role: z.enum(['admin', 'operator', 'viewer']),
  tokenId: z.string().optional(),
  scopes: z.array(z.string()),
});
export type Principal = z.infer<typeof Principal>;

export const Fleet = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: When,
  deviceCount: z.number(),
});
export type Fleet = z.infer<typeof Fleet>;

export const ClaimToken = z.object({
  id: z.string(),
  fleetId: z.string(),
  name: z.string(),
  tags: z.array(z.string()),
  maxUses: z.number().nullable(),
  uses: z.number(),
  expiresAt: When.nullable(),
  revokedAt: When.nullable(),
  createdAt: When,
  createdBy: z.string(),
});
export type ClaimToken = z.infer<typeof ClaimToken>;

export const NewClaimToken = ClaimToken.extend({ token: z.string() });
export type NewClaimToken = z.infer<typeof NewClaimToken>;

export const Device = z.object({
  id: z.string(),
  fleetId: z.string(),
  name: z.string(),
  hardwareId: z.string(),
  board: z.string(),
  agentVersion: z.string(),
  tags: z.array(z.string()),
  online: z.boolean(),
  lastSeenAt: When,
  currentRelease: z.string().nullable(),
  currentSequence: z.number().nullable(),
  updateState: z.string(),
  updateStatus: z.string().nullable(),
  updateReason: z.string().nullable(),
  createdAt: When,
  decommissionedAt: When.nullable(),
});
export type Device = z.infer<typeof Device>;

export const DeviceContainer = z.object({
  name: z.string(),
  state: z.string(),
  restartCount: z.number(),
  exitCode: z.number().nullable(),
  startedAt: When.nullable(),
  message: z.string().nullable(),
});

export const DeviceDetail = Device.extend({
  bootId: z.string().nullable(),
  currentRevisionDigest: z.string().nullable(),
  // null from hubs that never recorded a failure.
  failedRevisions: z
    .array(z.string())
    .nullable()
    .transform((v) => v ?? []),
  containers: z.array(DeviceContainer),
});
export type DeviceDetail = z.infer<typeof DeviceDetail>;

export const DeviceCommand = z.object({
  id: z.string(),
  deviceId: z.string(),
  kind: z.string(),
  status: z.string(),
  createdAt: When,
  message: z.string().nullable(),
});
export type DeviceCommand = z.infer<typeof DeviceCommand>;

export const StoredLogLine = z.object({
  id: z.string(),
  deviceId: z.string(),
  source: z.string(),
  stream: z.string(),
  at: When,
  text: z.string(),
});
export type StoredLogLine = z.infer<typeof StoredLogLine>;

/** `device.logs` event data: the protocol's LogLine as the device sent it. */
export const LiveLogLine = z.object({
  time: z.string(),
  source: z.string(),
  stream: z.string(),
  text: z.string(),
});
export type LiveLogLine = z.infer<typeof LiveLogLine>;

export const HubEvent = z.object({
  type: z.string(),
  at: When,
  deviceId: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
});
export type HubEvent = z.infer<typeof HubEvent>;

export const SigningKeyRecord = z.object({
  keyId: z.string(),
  alg: z.string(),
  publicKey: z.string(),
  name: z.string(),
  createdAt: When,
  revokedAt: When.nullable(),
});
export type SigningKeyRecord = z.infer<typeof SigningKeyRecord>;

export const ReleaseSummary = z.object({
  id: z.string(),
  version: z.string(),
  sequence: z.number(),
  manifestDigest: z.string(),
  board: z.string(),
  compatibleBoards: z.array(z.string()),
  notes: z.string(),
  createdAt: When,
  createdBy: z.string(),
  yankedAt: When.nullable(),
  yankReason: z.string().nullable(),
});
export type ReleaseSummary = z.infer<typeof ReleaseSummary>;

export const Release = ReleaseSummary.extend({
  manifest: ReleaseManifest,
  objects: z.array(z.object({ digest: z.string(), size: z.number(), role: z.string() })),
  signedBy: z.array(z.string()),
});
export type Release = z.infer<typeof Release>;

/** The hub's error body: `{statusCode, message, issues?: [{path, message}]}`. */
export const HubErrorBody = z.object({
  statusCode: z.number().optional(),
  message: z.union([z.string(), z.array(z.string())]).optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
