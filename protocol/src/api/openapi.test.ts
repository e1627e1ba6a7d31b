// The hub is the authority on its REST shapes: its OpenAPI document (hub/openapi.json, generated
// from the hub's own zod schemas and kept fresh by a hub test) is compared here with the schemas
// of this module, route by route. A field added, removed, renamed, made optional or nullable, or
// retyped on either side fails this test until both agree.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { ReleaseManifest } from '../manifest.js';
import type { LogLine } from '../mqtt/messages.js';
import { ProvisionRequest, ProvisionResponse } from '../provisioning.js';
import {
  ApiErrorBody,
  ApiTokenInfo,
  ApplyRolloutResult,
  BulkCommandRequest,
  BulkCommandResult,
  BulkTagRequest,
  BulkTagResult,
  ClaimToken,
  ConfigChangeResult,
  ConfigVariableList,
  ContainerEvent,
  CreateApiTokenRequest,
  CreateClaimTokenRequest,
  CreateCommandRequest,
  CreateFleetRequest,
  CreateKeyRequest,
  CreateUserRequest,
  Device,
  DeviceCommand,
  DeviceCredentials,
  DeviceDetail,
  DeviceSummary,
  DryRunReport,
  EffectiveConfig,
  Fleet,
  HubEvent,
  LoginRequest,
  LoginResponse,
  NewApiToken,
  NewClaimToken,
  Page,
  parseHubEvent,
  Release,
  ReleaseSummary,
  RolloutActionRequest,
  RolloutDetail,
  RolloutDevice,
  RolloutSpecRequest,
  SetTagsRequest,
  SetVariableRequest,
  SigningKeyRecord,
  StoredLogLine,
  TagCount,
  TelemetryPoint,
  UpdateDeviceRequest,
  UpdateEvent,
  UpdateFleetRequest,
  UpdateUserRequest,
  User,
  UserPrincipal,
  YankRequest,
  type LiveLogLine,
} from './index.js';

type Json = Record<string, unknown>;
const here = dirname(fileURLToPath(import.meta.url));
const openapi = JSON.parse(readFileSync(join(here, '../../../hub/openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json> };
};

/** What a route sends and answers, by protocol schema; `undefined`: no JSON body that way. */
interface Route {
  request?: z.ZodType;
  /** Status → answer. */
  responses?: Record<number, z.ZodType>;
  /** Media type of the answer (the event stream's frames). */
  contentType?: string;
}

const list = <T extends z.ZodType>(item: T) => z.array(item);

/** Every route of the hub's `/api/v1` that hubctl or the dashboard calls, with its shapes. */
const ROUTES: Record<string, Route> = {
  'POST /api/v1/auth/login': { request: LoginRequest, responses: { 200: LoginResponse } },
  'POST /api/v1/auth/logout': {},
  'GET /api/v1/auth/me': { responses: { 200: UserPrincipal } },
  'GET /api/v1/users': { responses: { 200: list(User) } },
  'POST /api/v1/users': { request: CreateUserRequest, responses: { 201: User } },
  'GET /api/v1/users/{id}': { responses: { 200: User } },
  'PATCH /api/v1/users/{id}': { request: UpdateUserRequest, responses: { 200: User } },
  'POST /api/v1/tokens': { request: CreateApiTokenRequest, responses: { 201: NewApiToken } },
  'GET /api/v1/tokens': { responses: { 200: list(ApiTokenInfo) } },
  'DELETE /api/v1/tokens/{id}': {},
  'GET /api/v1/events': { responses: { 200: HubEvent }, contentType: 'text/event-stream' },
  'GET /api/v1/devices': { responses: { 200: Page(Device) } },
  'GET /api/v1/devices/summary': { responses: { 200: DeviceSummary } },
  'GET /api/v1/tags': { responses: { 200: list(TagCount) } },
  'POST /api/v1/devices/tags': { request: BulkTagRequest, responses: { 200: BulkTagResult } },
  'POST /api/v1/devices/commands': {
    request: BulkCommandRequest,
    responses: { 200: list(BulkCommandResult) },
  },
  'GET /api/v1/devices/{id}': { responses: { 200: DeviceDetail } },
  'PATCH /api/v1/devices/{id}': { request: UpdateDeviceRequest, responses: { 200: Device } },
  'DELETE /api/v1/devices/{id}': {},
  'PUT /api/v1/devices/{id}/tags': { request: SetTagsRequest, responses: { 200: Device } },
  'GET /api/v1/devices/{id}/containers/history': { responses: { 200: Page(ContainerEvent) } },
  'POST /api/v1/devices/{id}/commands': { request: CreateCommandRequest, responses: { 201: DeviceCommand } },
  'GET /api/v1/devices/{id}/commands': { responses: { 200: list(DeviceCommand) } },
  'POST /api/v1/devices/{id}/credentials': { responses: { 200: DeviceCredentials } },
  'GET /api/v1/devices/{id}/telemetry': { responses: { 200: list(TelemetryPoint) } },
  'GET /api/v1/devices/{id}/logs': { responses: { 200: Page(StoredLogLine) } },
  'GET /api/v1/devices/{id}/updates': { responses: { 200: Page(UpdateEvent) } },
  'GET /api/v1/fleets': { responses: { 200: list(Fleet) } },
  'POST /api/v1/fleets': { request: CreateFleetRequest, responses: { 201: Fleet } },
  'GET /api/v1/fleets/{fleet}': { responses: { 200: Fleet } },
  'PATCH /api/v1/fleets/{fleet}': { request: UpdateFleetRequest, responses: { 200: Fleet } },
  'DELETE /api/v1/fleets/{fleet}': {},
  'POST /api/v1/fleets/{fleet}/claim-tokens': {
    request: CreateClaimTokenRequest,
    responses: { 201: NewClaimToken },
  },
  'GET /api/v1/fleets/{fleet}/claim-tokens': { responses: { 200: list(ClaimToken) } },
  'DELETE /api/v1/claim-tokens/{id}': { responses: { 200: ClaimToken } },
  'POST /api/v1/releases': { request: ReleaseManifest, responses: { 200: Release, 201: Release } },
  'GET /api/v1/releases': { responses: { 200: Page(ReleaseSummary) } },
  'GET /api/v1/releases/{release}': { responses: { 200: Release } },
  'POST /api/v1/releases/{release}/yank': { request: YankRequest, responses: { 200: Release } },
  'POST /api/v1/keys': { request: CreateKeyRequest, responses: { 201: SigningKeyRecord } },
  'GET /api/v1/keys': { responses: { 200: list(SigningKeyRecord) } },
  'DELETE /api/v1/keys/{keyId}': {},
  'POST /api/v1/provision': { request: ProvisionRequest, responses: { 200: ProvisionResponse } },
  'POST /api/v1/rollouts': { request: RolloutSpecRequest, responses: { 201: RolloutDetail } },
  'GET /api/v1/rollouts': { responses: { 200: Page(RolloutDetail) } },
  'POST /api/v1/rollouts/dry-run': { request: RolloutSpecRequest, responses: { 200: DryRunReport } },
  'PUT /api/v1/rollouts/by-name/{name}': {
    request: RolloutSpecRequest,
    responses: { 200: ApplyRolloutResult, 201: ApplyRolloutResult },
  },
  'GET /api/v1/rollouts/{rollout}': { responses: { 200: RolloutDetail } },
  'GET /api/v1/rollouts/{rollout}/devices': { responses: { 200: Page(RolloutDevice) } },
  'POST /api/v1/rollouts/{rollout}/pause': {
    request: RolloutActionRequest,
    responses: { 200: RolloutDetail },
  },
  'POST /api/v1/rollouts/{rollout}/resume': {
    request: RolloutActionRequest,
    responses: { 200: RolloutDetail },
  },
  'POST /api/v1/rollouts/{rollout}/abort': {
    request: RolloutActionRequest,
    responses: { 200: RolloutDetail },
  },
  'POST /api/v1/rollouts/{rollout}/rollback': {
    request: RolloutActionRequest,
    responses: { 200: RolloutDetail },
  },
  'GET /api/v1/fleets/{fleet}/env': { responses: { 200: ConfigVariableList } },
  'PUT /api/v1/fleets/{fleet}/env/{container}/{name}': {
    request: SetVariableRequest,
    responses: { 200: ConfigChangeResult },
  },
  'DELETE /api/v1/fleets/{fleet}/env/{container}/{name}': { responses: { 200: ConfigChangeResult } },
  'GET /api/v1/devices/{id}/env': { responses: { 200: ConfigVariableList } },
  'GET /api/v1/devices/{id}/env/effective': { responses: { 200: EffectiveConfig } },
  'PUT /api/v1/devices/{id}/env/{container}/{name}': {
    request: SetVariableRequest,
    responses: { 200: ConfigChangeResult },
  },
  'DELETE /api/v1/devices/{id}/env/{container}/{name}': { responses: { 200: ConfigChangeResult } },
};

/** Routes clients do not call through protocol types: objects (binary), health, audit, windows. */
const NOT_FOR_CLIENTS = [
  'GET /api/v1/audit',
  'GET /healthz',
  'GET /readyz',
  'HEAD /api/v1/objects/sha256/{hex}',
  'GET /api/v1/objects/sha256/{hex}',
  'PUT /api/v1/objects/sha256/{hex}',
  'GET /api/v1/fleets/{fleet}/window',
  'PUT /api/v1/fleets/{fleet}/window',
  'DELETE /api/v1/fleets/{fleet}/window',
];

function operation(key: string): Json {
  const [method = '', path = ''] = key.split(' ');
  const op = openapi.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`${key} is not in hub/openapi.json`);
  return op;
}

function jsonBody(content: unknown, type = 'application/json'): Json | undefined {
  return (content as Record<string, { schema?: Json }> | undefined)?.[type]?.schema;
}

function ours(schema: z.ZodType, io: 'input' | 'output'): Json {
  return z.toJSONSchema(schema, { io, target: 'openapi-3.0', unrepresentable: 'any' }) as Json;
}

function resolve(s: Json): Json {
  const ref = s.$ref;
  if (typeof ref !== 'string') return s;
  const name = ref.replace('#/components/schemas/', '');
  const target = openapi.components.schemas[name];
  if (!target) throw new Error(`unresolved ${ref}`);
  return target;
}

/** Splits off nullability (`nullable: true`, or a null branch of anyOf). */
function unwrap(raw: Json): { nullable: boolean; schema: Json } {
  const s = resolve(raw);
  const branches = (s.anyOf ?? s.oneOf) as Json[] | undefined;
  if (branches) {
    const isNull = (b: Json) => b.type === 'null' || (b.nullable === true && b.type === undefined);
    const rest = branches.filter((b) => !isNull(b));
    const nullable = s.nullable === true || rest.length < branches.length;
    if (rest.length === 1 && rest[0]) return { nullable, schema: resolve(rest[0]) };
    return { nullable, schema: { anyOf: rest } };
  }
  return { nullable: s.nullable === true, schema: s };
}

const sorted = (v: unknown) => [...((v as unknown[] | undefined) ?? [])].map(String).sort();

/**
 * Differences in shape between protocol's JSON Schema and the hub's, as `$.path: what` lines:
 * types, nullability, enum members, property names, required-ness, array items, union branches,
 * record values. Value constraints (patterns, bounds, formats, defaults) are the hub's to check.
 */
function shapeDiff(a: Json, b: Json, at = '$'): string[] {
  const x = unwrap(a);
  const y = unwrap(b);
  const out: string[] = [];
  if (x.nullable !== y.nullable)
    out.push(`${at}: protocol nullable=${x.nullable}, hub nullable=${y.nullable}`);
  const xa = x.schema.anyOf as Json[] | undefined;
  const ya = y.schema.anyOf as Json[] | undefined;
  if (xa || ya) {
    if (!xa || !ya || xa.length !== ya.length)
      return [...out, `${at}: union of ${xa?.length ?? 1} vs ${ya?.length ?? 1}`];
    xa.forEach((branch, i) => out.push(...shapeDiff(branch, ya[i] ?? {}, `${at}|${i}`)));
    return out;
  }
  if (x.schema.type !== y.schema.type)
    return [...out, `${at}: protocol type ${String(x.schema.type)}, hub ${String(y.schema.type)}`];
  if (JSON.stringify(sorted(x.schema.enum)) !== JSON.stringify(sorted(y.schema.enum)))
    out.push(`${at}: protocol enum ${JSON.stringify(x.schema.enum)}, hub ${JSON.stringify(y.schema.enum)}`);
  if (x.schema.type === 'array')
    out.push(...shapeDiff((x.schema.items ?? {}) as Json, (y.schema.items ?? {}) as Json, `${at}[]`));
  if (x.schema.type === 'object') {
    const xp = (x.schema.properties ?? {}) as Record<string, Json>;
    const yp = (y.schema.properties ?? {}) as Record<string, Json>;
    const xr = new Set(sorted(x.schema.required));
    const yr = new Set(sorted(y.schema.required));
    for (const k of new Set([...Object.keys(xp), ...Object.keys(yp)])) {
      const xs = xp[k];
      const ys = yp[k];
      if (!xs) out.push(`${at}.${k}: missing in protocol`);
      else if (!ys) out.push(`${at}.${k}: not sent by the hub`);
      else {
        if (xr.has(k) !== yr.has(k))
          out.push(`${at}.${k}: protocol required=${xr.has(k)}, hub required=${yr.has(k)}`);
        out.push(...shapeDiff(xs, ys, `${at}.${k}`));
      }
    }
    const xap = x.schema.additionalProperties;
    const yap = y.schema.additionalProperties;
    if (typeof xap === 'object' || typeof yap === 'object') {
      if (typeof xap !== 'object' || typeof yap !== 'object') out.push(`${at}: record on one side only`);
      else out.push(...shapeDiff(xap as Json, yap as Json, `${at}{}`));
    }
  }
  return out;
}

describe('protocol api/ matches the hub OpenAPI document', () => {
  for (const [key, route] of Object.entries(ROUTES)) {
    it(key, () => {
      const op = operation(key);
      const body = jsonBody((op.requestBody as Json | undefined)?.content);
      if (route.request) {
        expect(body, `${key}: the hub documents no request body`).toBeDefined();
        expect(shapeDiff(ours(route.request, 'input'), body ?? {}), `${key} request`).toEqual([]);
      } else {
        expect(body, `${key}: the hub takes a body protocol has no type for`).toBeUndefined();
      }
      const documented = Object.entries(op.responses as Record<string, Json>).filter(
        ([status, r]) => status !== 'default' && jsonBody(r.content, route.contentType),
      );
      expect(documented.map(([s]) => Number(s)).sort(), `${key}: answers`).toEqual(
        Object.keys(route.responses ?? {})
          .map(Number)
          .sort(),
      );
      for (const [status, r] of documented) {
        const schema = route.responses?.[Number(status)];
        if (!schema) continue;
        expect(
          shapeDiff(ours(schema, 'output'), jsonBody(r.content, route.contentType) ?? {}),
          `${key} ${status}`,
        ).toEqual([]);
      }
    });
  }

  it('the error body is the hub ApiError', () => {
    expect(shapeDiff(ours(ApiErrorBody, 'output'), openapi.components.schemas.ApiError ?? {})).toEqual([]);
  });

  it('every route of the hub is either typed here or named as not for clients', () => {
    const all = Object.entries(openapi.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(all.filter((k) => !(k in ROUTES) && !NOT_FOR_CLIENTS.includes(k))).toEqual([]);
    expect([...Object.keys(ROUTES), ...NOT_FOR_CLIENTS].filter((k) => !all.includes(k))).toEqual([]);
  });
});

describe('shapeDiff', () => {
  // The comparison itself must see each kind of drift, or the test above proves nothing.
  const hub = ours(
    z.object({ a: z.string(), b: z.number().int().nullable(), c: z.array(z.enum(['x', 'y'])) }),
    'output',
  );
  const cases: Array<[string, z.ZodType, string]> = [
    [
      'a field the hub does not send',
      z.object({
        a: z.string(),
        b: z.number().int().nullable(),
        c: z.array(z.enum(['x', 'y'])),
        d: z.string(),
      }),
      '$.d: not sent by the hub',
    ],
    [
      'a field protocol lacks',
      z.object({ a: z.string(), b: z.number().int().nullable() }),
      '$.c: missing in protocol',
    ],
    [
      'optional vs required',
      z.object({ a: z.string().optional(), b: z.number().int().nullable(), c: z.array(z.enum(['x', 'y'])) }),
      '$.a: protocol required=false, hub required=true',
    ],
    [
      'nullability',
      z.object({ a: z.string(), b: z.number().int(), c: z.array(z.enum(['x', 'y'])) }),
      '$.b: protocol nullable=false, hub nullable=true',
    ],
    [
      'a type',
      z.object({ a: z.number(), b: z.number().int().nullable(), c: z.array(z.enum(['x', 'y'])) }),
      '$.a: protocol type number, hub string',
    ],
    [
      'enum members',
      z.object({ a: z.string(), b: z.number().int().nullable(), c: z.array(z.enum(['x'])) }),
      '$.c[]: protocol enum ["x"], hub ["x","y"]',
    ],
  ];
  for (const [what, schema, line] of cases) {
    it(`reports ${what}`, () => expect(shapeDiff(ours(schema, 'output'), hub)).toEqual([line]));
  }
  it('reports nothing for the same shape, formats and bounds aside', () => {
    const same = z.object({
      a: z.string().min(3),
      b: z.number().int().max(9).nullable(),
      c: z.array(z.enum(['y', 'x'])),
    });
    expect(shapeDiff(ours(same, 'output'), hub)).toEqual([]);
  });
});

describe('parseHubEvent', () => {
  it('reads an event frame', () => {
    const r = parseHubEvent(
      '{"type":"device.presence","at":"2026-11-30T10:00:00.000Z","scope":"devices","minRole":"viewer","deviceId":"d1","data":{"online":true}}',
    );
    expect(r.ok && r.value.type).toBe('device.presence');
  });
  it('returns an error for text that is not JSON, and for an unknown type', () => {
    const bad = parseHubEvent('{"type":');
    expect(!bad.ok && bad.error.issues[0]?.code).toBe('invalid_json');
    const unknown = parseHubEvent(
      '{"type":"device.teleported","at":"x","scope":"devices","minRole":"viewer","data":{}}',
    );
    expect(!unknown.ok && unknown.error.message).toMatch(/^HubEvent is invalid: \$\.type: /);
  });
  it("a live log line reads the agent's LogLine", () => {
    expectTypeOf<LogLine>().toExtend<LiveLogLine>();
  });
});
