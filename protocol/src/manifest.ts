import { z } from 'zod';
import { Digest, ObjectRef } from './digest.js';
import { parseWith, type Result } from './result.js';
import { Size } from './size.js';

/** Container names become LXC names, hostnames and directory names: keep them boring. */
export const ContainerName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
  error: 'must be 1-63 of a-z, 0-9 and "-", starting with a letter or digit',
});
export type ContainerName = z.infer<typeof ContainerName>;

export const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
export const SemVer = z.string().regex(SEMVER_PATTERN, { error: 'must be a semantic version such as 1.4.0' });

/** True when `p` has no empty, `.` or `..` segment (what path.posix.normalize would change). */
function isNormalised(p: string): boolean {
  if (p === '/') return true;
  return p
    .slice(1)
    .split('/')
    .every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** An absolute, normalised path: no `..`, no `//`, no trailing slash. */
export const AbsolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => p.startsWith('/'), { error: 'must be an absolute path' })
  .refine(isNormalised, {
    error: 'must be normalised (no "..", "//", "." or trailing "/")',
  })
  .refine((p) => !p.includes('\0'), { error: 'must not contain NUL' });

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be a valid environment variable name' });
const Duration = z
  .number()
  .int()
  .nonnegative()
  .max(7 * 24 * 3600 * 1000);

/** How the container's init is started; the converter maps an image config to this. */
export const StartConfig = z.strictObject({
  entrypoint: z.array(z.string()).default([]),
  cmd: z.array(z.string()).default([]),
  env: z.record(EnvName, z.string()).default({}),
  cwd: AbsolutePath.default('/'),
  user: z
    .string()
    .regex(/^\d{1,10}:\d{1,10}$/, { error: 'must be numeric "uid:gid" (names are resolved at conversion)' })
    .default('0:0'),
  stopSignal: z
    .string()
    .regex(/^SIG[A-Z0-9+-]+$/, { error: 'must be a signal name such as SIGTERM' })
    .default('SIGTERM'),
  stopTimeoutMs: Duration.default(10_000),
});
export type StartConfig = z.output<typeof StartConfig>;

export const HealthCheck = z.strictObject({
  exec: z.array(z.string()).min(1, { error: 'must name a command to run' }),
  intervalMs: Duration.min(100).default(10_000),
  timeoutMs: Duration.min(100).default(5_000),
  retries: z.number().int().min(1).max(100).default(3),
  startPeriodMs: Duration.default(0),
});
export type HealthCheck = z.output<typeof HealthCheck>;

export const RestartPolicy = z.strictObject({
  policy: z.enum(['always', 'on-failure', 'never']).default('always'),
  maxRetries: z.number().int().nonnegative().max(1_000_000).default(5),
  backoffMs: Duration.default(1_000),
});
export type RestartPolicy = z.output<typeof RestartPolicy>;

/**
 * permanent: survives every update and rollback; revision: fresh for each revision (and kept
 * with it, so a rollback finds it again); boot: tmpfs, empty at every start.
 */
export const Persistence = z.enum(['permanent', 'revision', 'boot']);
export type Persistence = z.infer<typeof Persistence>;

export const VolumeSpec = z.strictObject({
  name: ContainerName,
  path: AbsolutePath,
  persistence: Persistence,
  sizeBytes: Size.optional(),
  readOnly: z.boolean().default(false),
});
export type VolumeSpec = z.output<typeof VolumeSpec>;

export const DeviceSpec = z.strictObject({
  path: AbsolutePath.refine((p) => p.startsWith('/dev/'), { error: 'must be under /dev/' }),
  permissions: z
    .string()
    .regex(/^r?w?m?$/, { error: 'must be a combination of r, w, m' })
    .default('rwm'),
});
export type DeviceSpec = z.output<typeof DeviceSpec>;

const Capability = z
  .string()
  .regex(/^(CAP_)?[A-Z_]{2,32}$/, { error: 'must be a capability name such as NET_ADMIN' })
  .transform((c) => c.replace(/^CAP_/, ''));

export const Resources = z.strictObject({
  memoryBytes: Size.optional(),
  cpuShares: z.number().int().min(2).max(262_144).optional(),
  pids: z.number().int().min(1).max(4_194_304).optional(),
});
export type Resources = z.output<typeof Resources>;

export const NetworkMode = z.enum(['none', 'host', 'bridge']);
export type NetworkMode = z.infer<typeof NetworkMode>;

const Port = z.number().int().min(1).max(65_535);

/**
 * A host port forwarded to a `bridge` container's address (DNAT, like Docker's `ports`). The
 * agent switches it to a new instance atomically once that one accepts connections, which is
 * what lets a `hand-over` update lose no request (decision 0023).
 */
export const PortMapping = z.strictObject({
  host: Port,
  container: Port,
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
});
export type PortMapping = z.output<typeof PortMapping>;

export const ContainerGroup = z.enum(['platform', 'app']);
export type ContainerGroup = z.infer<typeof ContainerGroup>;

// Mounting over these would hide the kernel interfaces LXC sets up for the container.
const RESERVED_MOUNTS = ['/', '/proc', '/sys', '/dev'];

const isWithin = (inner: string, outer: string) =>
  outer === '/' || inner === outer || inner.startsWith(`${outer}/`);

export const ContainerSpec = z
  .strictObject({
    image: z.strictObject({ ref: z.string().min(1).max(1024), digest: Digest }),
    rootfs: ObjectRef,
    group: ContainerGroup.default('app'),
    start: StartConfig,
    restart: RestartPolicy.default({ policy: 'always', maxRetries: 5, backoffMs: 1_000 }),
    statusGoal: z.enum(['started', 'ready']).default('started'),
    health: HealthCheck.optional(),
    resources: Resources.default({}),
    network: NetworkMode.default('none'),
    // Optional without a default on purpose: a default `[]` would enter every spec's canonical
    // JSON, change every instance name (reconcile/instance.ts) and restart every container of a
    // device when its agent is updated.
    ports: z.array(PortMapping).min(1).optional(),
    capabilities: z
      .strictObject({ drop: z.array(Capability).default([]), keep: z.array(Capability).default([]) })
      .default({ drop: [], keep: [] }),
    volumes: z.array(VolumeSpec).default([]),
    devices: z.array(DeviceSpec).default([]),
    privileged: z.boolean().default(false),
    hostname: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, { error: 'must be a valid host name label' })
      .optional(),
    /** Operator variables (fleet and device config) delivered with the target; merged into env. */
    config: z.record(EnvName, z.string()).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.start.entrypoint.length + c.start.cmd.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['start'], message: 'needs an entrypoint or a cmd to run' });
    }
    if (c.statusGoal === 'ready' && !c.health) {
      ctx.addIssue({ code: 'custom', path: ['health'], message: 'is required when statusGoal is "ready"' });
    }
    // LXC accepts either lxc.cap.keep or lxc.cap.drop, never both.
    if (c.capabilities.keep.length > 0 && c.capabilities.drop.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['capabilities'], message: 'give either keep or drop, not both' });
    }
    const names = new Map<string, number>();
    c.volumes.forEach((v, i) => {
      const first = names.get(v.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['volumes', i, 'name'],
          message: `duplicates the name of volumes[${first}] ("${v.name}")`,
        });
      } else names.set(v.name, i);
      if (RESERVED_MOUNTS.some((r) => (r === '/' ? v.path === '/' : isWithin(v.path, r)))) {
        ctx.addIssue({
          code: 'custom',
          path: ['volumes', i, 'path'],
          message: `must not be / or under /proc, /sys, /dev`,
        });
      }
      c.volumes.forEach((o, j) => {
        if (j < i && (isWithin(v.path, o.path) || isWithin(o.path, v.path))) {
          ctx.addIssue({
            code: 'custom',
            path: ['volumes', i, 'path'],
            message: `overlaps volumes[${j}].path ("${o.path}")`,
          });
        }
      });
    });
    if (c.ports && c.network !== 'bridge') {
      ctx.addIssue({
        code: 'custom',
        path: ['ports'],
        message: `need network "bridge" (a "${c.network}" container has no address of its own to forward to)`,
      });
    }
    const published = new Map<string, number>();
    c.ports?.forEach((p, i) => {
      const key = `${p.host}/${p.protocol}`;
      const first = published.get(key);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['ports', i, 'host'],
          message: `duplicates ports[${first}] (${key})`,
        });
      else published.set(key, i);
    });
    const devices = new Set<string>();
    c.devices.forEach((d, i) => {
      if (devices.has(d.path)) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'path'], message: `lists ${d.path} twice` });
      }
      devices.add(d.path);
    });
  });
export type ContainerSpec = z.output<typeof ContainerSpec>;
export type ContainerSpecInput = z.input<typeof ContainerSpec>;

export const SystemSpec = z.strictObject({
  kernel: ObjectRef.optional(),
  dtb: ObjectRef.optional(),
  rootfs: ObjectRef.extend({ slot: z.literal('ab') }).optional(),
});
export type SystemSpec = z.output<typeof SystemSpec>;

export const KeyId = z.string().regex(/^[0-9a-f]{16}$/, { error: 'must be 16 lower-case hex digits' });

export const Signature = z.strictObject({
  keyId: KeyId,
  alg: z.literal('ed25519'),
  sig: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, { error: 'must be a base64 ed25519 signature (64 bytes)' }),
});
export type Signature = z.infer<typeof Signature>;

export const BoardName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: 'must be a board name such as qemu-aarch64' });

const revisionShape = {
  spec: z.literal('fleet-revision@1'),
  release: z.string().min(1).max(128),
  board: BoardName,
  system: SystemSpec.optional(),
  containers: z.record(ContainerName, ContainerSpec),
  signatures: z.array(Signature).default([]),
};

function checkRevision(m: { containers: Record<string, ContainerSpec> }, ctx: z.RefinementCtx): void {
  // Bridge hosts live in one namespace per device; two containers may not claim one hostname.
  const hostnames = new Map<string, string>();
  for (const [name, c] of Object.entries(m.containers)) {
    const host = c.hostname ?? name;
    const other = hostnames.get(host);
    if (other !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['containers', name, 'hostname'],
        message: `"${host}" is already the hostname of container "${other}"`,
      });
    }
    hostnames.set(host, name);
  }
  // A host port forwards to one container.
  const ports = new Map<string, string>();
  for (const [name, c] of Object.entries(m.containers)) {
    c.ports?.forEach((p, i) => {
      const key = `${p.host}/${p.protocol}`;
      const other = ports.get(key);
      if (other !== undefined && other !== name) {
        ctx.addIssue({
          code: 'custom',
          path: ['containers', name, 'ports', i, 'host'],
          message: `${key} is already published by container "${other}"`,
        });
      }
      ports.set(key, name);
    });
  }
}

/** The whole desired state of a device. Signatures cover the canonical JSON of the rest. */
export const RevisionManifest = z.strictObject(revisionShape).superRefine(checkRevision);
export type RevisionManifest = z.output<typeof RevisionManifest>;
export type RevisionManifestInput = z.input<typeof RevisionManifest>;

/** A revision manifest that is published as a release: what devices are sent, signed. */
export const ReleaseManifest = z
  .strictObject({
    ...revisionShape,
    spec: z.literal('fleet-release@1'),
    version: SemVer,
    notes: z
      .string()
      .max(64 * 1024)
      .default(''),
    compatibleBoards: z.array(BoardName).min(1),
    minAgentVersion: SemVer.default('0.0.0'),
    /** Strictly increasing per organisation; a device refuses anything not above what it runs. */
    sequence: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  })
  .superRefine((m, ctx) => {
    checkRevision(m, ctx);
    if (!m.compatibleBoards.includes(m.board)) {
      ctx.addIssue({
        code: 'custom',
        path: ['compatibleBoards'],
        message: `must include the manifest's board "${m.board}"`,
      });
    }
    const seen = new Set<string>();
    m.compatibleBoards.forEach((b, i) => {
      if (seen.has(b))
        ctx.addIssue({ code: 'custom', path: ['compatibleBoards', i], message: `lists "${b}" twice` });
      seen.add(b);
    });
  });
export type ReleaseManifest = z.output<typeof ReleaseManifest>;
export type ReleaseManifestInput = z.input<typeof ReleaseManifest>;

export const parseRevisionManifest = (input: unknown): Result<RevisionManifest> =>
  parseWith('RevisionManifest', RevisionManifest, input);
export const parseReleaseManifest = (input: unknown): Result<ReleaseManifest> =>
  parseWith('ReleaseManifest', ReleaseManifest, input);
export const parseContainerSpec = (input: unknown): Result<ContainerSpec> =>
  parseWith('ContainerSpec', ContainerSpec, input);

/** Every object a manifest references (container rootfs and system parts), without repeats. */
export function manifestObjects(m: RevisionManifest | ReleaseManifest): ObjectRef[] {
  const all = new Map<string, ObjectRef>();
  for (const c of Object.values(m.containers)) all.set(c.rootfs.digest, c.rootfs);
  for (const part of [m.system?.kernel, m.system?.dtb, m.system?.rootfs]) {
    if (part)
      all.set(part.digest, {
        digest: part.digest,
        size: part.size,
        ...(part.mediaType ? { mediaType: part.mediaType } : {}),
      });
  }
  return [...all.values()].sort((a, b) => a.digest.localeCompare(b.digest));
}

/** Compares two semantic versions by precedence (build metadata ignored): -1, 0 or 1. */
export function compareSemver(a: string, b: string): number {
  const pa = SEMVER_PATTERN.exec(a);
  const pb = SEMVER_PATTERN.exec(b);
  if (!pa || !pb) throw new RangeError(`not a semantic version: ${!pa ? a : b}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  const ra = pa[4];
  const rb = pb[4];
  if (ra === undefined || rb === undefined) return ra === rb ? 0 : ra === undefined ? 1 : -1;
  const xa = ra.split('.');
  const xb = rb.split('.');
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const x = xa[i];
    const y = xb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return Math.sign(d);
    } else if (nx !== ny) return nx ? -1 : 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
