import { isAbsolute, resolve } from 'node:path';
import {
  parseReleaseManifest,
  type ObjectRef,
  type HealthCheck,
  type ReleaseManifest,
  type StartConfig,
} from '@fleet/protocol';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';

/*
 * release.yaml → ReleaseManifest. Pure: the file's text comes in, the converted images come in,
 * a manifest (or issues naming file:line:column) comes out. The command does the I/O.
 *
 *   version: 1.4.0
 *   notes: faster web
 *   boards: [qemu-aarch64]          # first one is the manifest's board unless `board:` is given
 *   minAgentVersion: 0.1.0
 *   sequence: 12                    # optional: the hub's latest + 1
 *   platform: linux/arm64           # optional, per container too
 *   containers:
 *     web:
 *       image: ./images/web         # OCI layout dir, docker-archive .tar, oci:/docker-archive:, or a registry reference
 *       restart: { policy: always }
 *       start: { env: { MODE: prod } }   # merged over what the image says
 *       ...every other ContainerSpec setting of protocol, under the same name
 */

const ContainerEntry = z.looseObject({
  image: z
    .string({
      error: 'is required: an OCI layout directory, a docker-archive tarball or a registry reference',
    })
    .min(1),
  platform: z
    .string()
    .regex(/^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/, { error: 'must be os/arch[/variant], e.g. linux/arm64' })
    .optional(),
  start: z.record(z.string(), z.unknown()).optional(),
  /** `null` drops the image's own HEALTHCHECK. */
  health: z.unknown().optional(),
});

export const ReleaseFile = z.strictObject({
  version: z.string({ error: 'is required (a semantic version such as 1.4.0)' }),
  notes: z.string().optional(),
  board: z.string().optional(),
  boards: z
    .array(z.string(), { error: 'is required: the boards this release runs on, e.g. [qemu-aarch64]' })
    .min(1, { error: 'must name at least one board' }),
  minAgentVersion: z.string().optional(),
  sequence: z.number().int().positive().optional(),
  platform: z
    .string()
    .regex(/^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/, { error: 'must be os/arch[/variant], e.g. linux/arm64' })
    .optional(),
  containers: z.record(z.string(), ContainerEntry, {
    error: 'is required: a map of container name to settings',
  }),
});
export type ReleaseFile = z.infer<typeof ReleaseFile>;

export interface FileIssue {
  /** 1-based; absent when the place cannot be found in the file. */
  line?: number;
  col?: number;
  /** Dotted path in the YAML file: `containers.web.restart.policy`. */
  path: string;
  message: string;
}

export class ReleaseFileError extends Error {
  override readonly name = 'ReleaseFileError';
  constructor(
    readonly file: string,
    readonly issues: readonly FileIssue[],
  ) {
    super(`${file} is invalid:\n${issues.map((i) => `  ${formatIssue(file, i)}`).join('\n')}`);
  }
}

export function formatIssue(file: string, i: FileIssue): string {
  const where = i.line !== undefined ? `${file}:${i.line}:${i.col ?? 1}` : file;
  return `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

export interface ParsedReleaseFile {
  release: ReleaseFile;
  /** Finds a YAML path's line and column, for issues found later (the manifest check). */
  locate(path: readonly (string | number)[]): { line?: number; col?: number };
}

const dotted = (path: readonly PropertyKey[]) =>
  path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');

/** YAML text → ReleaseFile, or a ReleaseFileError naming line and column of each problem. */
export function parseReleaseFile(text: string, file: string): ParsedReleaseFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ReleaseFileError(
      file,
      doc.errors.map((e) => ({
        line: e.linePos?.[0]?.line,
        col: e.linePos?.[0]?.col,
        path: '',
        message: (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, ''),
      })),
    );
  }
  const locate = locator(doc, lineCounter);
  const r = ReleaseFile.safeParse(doc.toJS());
  if (!r.success) {
    throw new ReleaseFileError(
      file,
      r.error.issues.map((i) => ({
        ...locate(i.path as (string | number)[]),
        path: dotted(i.path),
        message: i.message,
      })),
    );
  }
  return { release: r.data, locate };
}

function locator(doc: Document, lc: LineCounter): ParsedReleaseFile['locate'] {
  return (path) => {
    // The deepest node that exists: a missing key is reported where its parent is.
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lc.linePos(node.range[0]);
        return { line: pos.line, col: pos.col };
      }
    }
    return {};
  };
}

/** The manifest's field names where they differ from the file's. */
function manifestPathToFile(path: readonly PropertyKey[], file: ReleaseFile): (string | number)[] {
  const out = path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  // Without `board:` the manifest's board is the first of `boards`.
  if (out[0] === 'board' && file.board === undefined) return ['boards', 0, ...out.slice(1)];
  if (out[0] === 'compatibleBoards') out[0] = 'boards';
  if (out[0] === 'release') out[0] = 'version';
  // image and rootfs come from the conversion, not the file: point at the image line.
  if (out[0] === 'containers' && (out[2] === 'rootfs' || out[2] === 'image'))
    return out.slice(0, 3).map((p, i) => (i === 2 ? 'image' : p));
  return out;
}

/** What the converter produced for one container (the parts the manifest needs). */
export interface ConvertedImage {
  image: { ref: string; digest: string };
  rootfs: ObjectRef;
  start: StartConfig;
  health?: HealthCheck;
}

/** Stand-in used to check the file's settings before any (slow) conversion. */
export const PLACEHOLDER_IMAGE: ConvertedImage = {
  image: { ref: 'placeholder', digest: `sha256:${'0'.repeat(64)}` },
  rootfs: { digest: `sha256:${'0'.repeat(64)}`, size: 0 },
  start: {
    entrypoint: [],
    cmd: ['/placeholder'],
    env: {},
    cwd: '/',
    user: '0:0',
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 10_000,
  },
};

/**
 * The unsigned manifest for a release file and its converted images. Settings in the file win
 * over the image's: `start` fields replace the image's (env is merged), `health` replaces the
 * image's HEALTHCHECK (`health: null` drops it).
 */
export function manifestInput(
  file: ReleaseFile,
  images: Readonly<Record<string, ConvertedImage>>,
  sequence: number,
): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(file.containers)) {
    const { image: _ref, platform: _platform, start, health, ...settings } = entry;
    const converted = images[name];
    if (!converted) throw new Error(`no converted image for container ${name}`);
    const startOverride = start ?? {};
    const env = startOverride.env;
    const healthOut = health === null ? undefined : (health ?? converted.health);
    containers[name] = {
      ...settings,
      image: converted.image,
      rootfs: converted.rootfs,
      start: {
        ...converted.start,
        ...startOverride,
        env: { ...converted.start.env, ...(env !== null && typeof env === 'object' ? env : {}) },
      },
      ...(healthOut !== undefined ? { health: healthOut } : {}),
    };
    // A non-object env override would be silently merged away: keep it so the check names it.
    if (env !== undefined && (env === null || typeof env !== 'object'))
      (containers[name] as { start: Record<string, unknown> }).start.env = env;
  }
  return {
    spec: 'fleet-release@1',
    release: file.version,
    version: file.version,
    board: file.board ?? file.boards[0],
    compatibleBoards: file.boards,
    ...(file.notes !== undefined ? { notes: file.notes } : {}),
    ...(file.minAgentVersion !== undefined ? { minAgentVersion: file.minAgentVersion } : {}),
    sequence,
    containers,
  };
}

/** Runs protocol's ReleaseManifest check; issues point into the release file. */
export function checkManifest(
  parsed: ParsedReleaseFile,
  file: string,
  input: Record<string, unknown>,
): ReleaseManifest {
  const r = parseReleaseManifest(input);
  if (r.ok) return r.value;
  const seen = new Set<string>();
  const issues: FileIssue[] = [];
  for (const i of r.error.issues) {
    const path = manifestPathToFile(jsonPathSegments(i.path), parsed.release);
    const issue = { ...parsed.locate(path), path: dotted(path), message: i.message };
    // One mistake can surface twice (a bad first board is also a bad `board`).
    const key = formatIssue(file, issue);
    if (!seen.has(key)) issues.push(issue);
    seen.add(key);
  }
  throw new ReleaseFileError(file, issues);
}

/** `$.containers.web.volumes[0]["odd key"]` → segments. */
export function jsonPathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path)) !== null) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(JSON.parse(m[3]) as string);
  }
  return out;
}

export type ImageRefKind = 'directory' | 'file' | 'missing';

/**
 * An image reference from the file in the converter's notation, local paths made absolute
 * against the file's directory: a directory is an OCI layout, a file a docker-archive tarball;
 * `oci:` and `docker-archive:` are taken as they are; anything else is a registry reference.
 */
export function resolveImageRef(
  ref: string,
  baseDir: string,
  kindOf: (absPath: string) => ImageRefKind,
): { ref: string } | { error: string } {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (ref.startsWith('oci:')) {
    const rest = ref.slice(4);
    const colon = rest.lastIndexOf(':');
    if (colon !== -1 && !rest.slice(colon + 1).includes('/'))
      return { ref: `oci:${abs(rest.slice(0, colon))}:${rest.slice(colon + 1)}` };
    return { ref: `oci:${abs(rest)}` };
  }
  if (ref.startsWith('docker-archive:')) {
    const rest = ref.slice('docker-archive:'.length);
    const colon = rest.indexOf(':');
    return {
      ref:
        colon === -1
          ? `docker-archive:${abs(rest)}`
          : `docker-archive:${abs(rest.slice(0, colon))}:${rest.slice(colon + 1)}`,
    };
  }
  if (ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../') || ref === '.' || ref === '..') {
    const p = abs(ref);
    const kind = kindOf(p);
    if (kind === 'directory') return { ref: `oci:${p}` };
    if (kind === 'file') return { ref: `docker-archive:${p}` };
    return {
      error: `${p} does not exist (a local image is an OCI layout directory or a docker-archive tarball)`,
    };
  }
  return { ref };
}
