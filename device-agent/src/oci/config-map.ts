import { HealthCheck, parseWith, StartConfig } from '@fleet/protocol';
import { constants } from 'node:os';
import { posix } from 'node:path';
import { OciError } from './errors.js';
import type { ContainerConfig, HealthConfig } from './image-types.js';

/**
 * Pure mapping of an image config to the protocol's start config (plus what a release needs
 * besides: volumes, health check, ports, labels). /etc/passwd and /etc/group come in as text,
 * read from the unpacked image by the caller.
 */

export interface MappedConfig {
  start: StartConfig;
  /** Absolute paths the image declares as volumes (`VOLUME`), sorted. */
  volumes: string[];
  health?: HealthCheck;
  exposedPorts: string[];
  labels: Record<string, string>;
}

/** Docker's default PATH for containers whose image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Docker's defaults for a HEALTHCHECK that leaves a field at 0. */
const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 };
/** Images carry no stop timeout; this is Docker's default grace period. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
export interface GroupEntry {
  name: string;
  gid: number;
}

/** Parses /etc/passwd text; malformed lines are skipped as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || !/^[0-9]+$/.test(f[2]!) || !/^[0-9]+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3 || f[0] === '' || !/^[0-9]+$/.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]) });
  }
  return out;
}

const isId = (s: string): boolean => /^[0-9]+$/.test(s) && Number(s) <= 0xffffffff;

/**
 * Resolves an image `User` (`name`, `uid`, `name:group`, `uid:gid`, ...) to numeric
 * `uid:gid` the way runc/Docker do: a name must exist in the image's /etc/passwd, a group name
 * in /etc/group; a numeric uid absent from passwd gets gid 0; with no group the user's
 * primary group applies.
 */
export function resolveUser(user: string | undefined, passwd: string | null, group: string | null): string {
  const spec = (user ?? '').trim();
  if (spec === '') return '0:0';
  const [u, g, ...rest] = spec.split(':');
  if (rest.length > 0 || u === undefined || u === '')
    throw new OciError('unknown-user', `image User ${JSON.stringify(spec)}: expected user[:group]`);
  const users = passwd === null ? [] : parsePasswd(passwd);
  let uid: number;
  let primaryGid: number;
  if (isId(u)) {
    uid = Number(u);
    primaryGid = users.find((e) => e.uid === uid)?.gid ?? 0;
  } else {
    const hit = users.find((e) => e.name === u);
    if (hit === undefined) {
      throw new OciError(
        'unknown-user',
        `image User ${JSON.stringify(spec)}: no user ${JSON.stringify(u)} in the image's /etc/passwd${passwd === null ? ' (the image has no /etc/passwd)' : ''}`,
      );
    }
    uid = hit.uid;
    primaryGid = hit.gid;
  }
  if (g === undefined || g === '') return `${uid}:${primaryGid}`;
  if (isId(g)) return `${uid}:${Number(g)}`;
  const gr = (group === null ? [] : parseGroup(group)).find((e) => e.name === g);
  if (gr === undefined) {
    throw new OciError(
      'unknown-user',
      `image User ${JSON.stringify(spec)}: no group ${JSON.stringify(g)} in the image's /etc/group${group === null ? ' (the image has no /etc/group)' : ''}`,
    );
  }
  return `${uid}:${gr.gid}`;
}

/** `SIGTERM`, `TERM`, `15` and `sigterm` all become `SIGTERM`. */
export function normaliseSignal(text: string | undefined): string {
  if (text === undefined || text.trim() === '') return 'SIGTERM';
  const t = text.trim().toUpperCase();
  const signals = constants.signals as Record<string, number>;
  if (/^[0-9]+$/.test(t)) {
    const name = Object.keys(signals).find((k) => signals[k] === Number(t));
    if (name === undefined)
      throw new OciError('invalid-image', `image StopSignal ${JSON.stringify(text)}: unknown signal number`);
    return name;
  }
  const name = t.startsWith('SIG') ? t : `SIG${t}`;
  if (!(name in signals))
    throw new OciError('invalid-image', `image StopSignal ${JSON.stringify(text)}: unknown signal`);
  return name;
}

export function envListToMap(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of env) {
    const eq = item.indexOf('=');
    // Later entries win, as in execve's environment handling by Docker.
    if (eq === -1) out[item] = '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

const nsToMs = (ns: number | undefined, dflt: number): number =>
  ns === undefined || ns === 0 ? dflt : Math.round(ns / 1e6);

export function mapHealthcheck(
  h: HealthConfig | null | undefined,
  shell: readonly string[] | null | undefined,
): HealthCheck | undefined {
  const test = h?.Test;
  if (h === null || h === undefined || test === null || test === undefined || test.length === 0)
    return undefined;
  const [kind, ...args] = test;
  let exec: string[];
  if (kind === 'NONE') return undefined;
  if (kind === 'CMD') exec = args;
  else if (kind === 'CMD-SHELL') {
    if (args.length !== 1)
      throw new OciError(
        'invalid-image',
        `image Healthcheck CMD-SHELL takes one command string, got ${args.length}`,
      );
    exec = [
      ...(shell !== null && shell !== undefined && shell.length > 0 ? shell : ['/bin/sh', '-c']),
      args[0]!,
    ];
  } else
    throw new OciError(
      'invalid-image',
      `image Healthcheck: unknown test kind ${JSON.stringify(kind)} (expected CMD, CMD-SHELL or NONE)`,
    );
  if (exec.length === 0) throw new OciError('invalid-image', 'image Healthcheck CMD without a command');
  return {
    exec,
    intervalMs: nsToMs(h.Interval, HEALTH_DEFAULTS.intervalMs),
    timeoutMs: nsToMs(h.Timeout, HEALTH_DEFAULTS.timeoutMs),
    retries: h.Retries === undefined || h.Retries === 0 ? HEALTH_DEFAULTS.retries : h.Retries,
    startPeriodMs: nsToMs(h.StartPeriod, HEALTH_DEFAULTS.startPeriodMs),
  };
}

function absolute(p: string, what: string): string {
  if (p.includes('\0')) throw new OciError('invalid-image', `${what} ${JSON.stringify(p)}: NUL byte`);
  // Docker resolves a relative WorkingDir / volume against "/".
  const n = posix.normalize(posix.join('/', p));
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

export function mapImageConfig(
  config: ContainerConfig | null | undefined,
  passwd: string | null,
  group: string | null,
  what = 'image',
): MappedConfig {
  const c = config ?? {};
  const entrypoint = c.Entrypoint ?? [];
  const cmd = c.Cmd ?? [];
  if (entrypoint.length === 0 && cmd.length === 0) {
    throw new OciError('no-command', `${what} has neither Entrypoint nor Cmd: nothing to run`);
  }
  const env = envListToMap(c.Env ?? []);
  if (env.PATH === undefined) env.PATH = DEFAULT_PATH;
  const health = mapHealthcheck(c.Healthcheck, c.Shell);
  // The output is what a release carries: hold it to the protocol's schema here, so a bad
  // image fails at conversion and names the image, not later on a device.
  const start = parseWith('StartConfig', StartConfig, {
    entrypoint: [...entrypoint],
    cmd: [...cmd],
    env,
    cwd: absolute(c.WorkingDir === undefined || c.WorkingDir === '' ? '/' : c.WorkingDir, 'image WorkingDir'),
    user: resolveUser(c.User, passwd, group),
    stopSignal: normaliseSignal(c.StopSignal),
    stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS,
  });
  if (!start.ok)
    throw new OciError(
      'invalid-image',
      `${what}: config does not map to a valid start config: ${start.error.message}`,
    );
  let checkedHealth: HealthCheck | undefined;
  if (health !== undefined) {
    const h = parseWith('HealthCheck', HealthCheck, health);
    if (!h.ok)
      throw new OciError(
        'invalid-image',
        `${what}: Healthcheck does not map to a valid health check: ${h.error.message}`,
      );
    checkedHealth = h.value;
  }
  return {
    start: start.value,
    volumes: Object.keys(c.Volumes ?? {})
      .map((v) => absolute(v, 'image volume'))
      .sort(),
    ...(checkedHealth !== undefined ? { health: checkedHealth } : {}),
    exposedPorts: Object.keys(c.ExposedPorts ?? {}).sort(),
    labels: { ...(c.Labels ?? {}) },
  };
}
