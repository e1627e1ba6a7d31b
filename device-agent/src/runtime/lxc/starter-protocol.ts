// JSON lines between the agent and its koffi starter process (one request per line, one reply
// per line). Checked by hand, not with zod: the runtime is the part of the agent that must stay
// small, and zod alone adds ~13 MiB RSS to a process (measured for docs/runtime.md).

export interface StartRequest {
  readonly id: number;
  readonly lxcpath: string;
  readonly name: string;
  readonly argv: readonly string[];
}

export interface StartReply {
  readonly id: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly initPid?: number;
}

export interface StarterHello {
  readonly hello: 'fleet-lxc-starter';
  readonly lxcVersion: string;
  readonly pid: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** A start request, or an Error naming what is wrong with it. */
export function parseStartRequest(v: unknown): StartRequest {
  if (!isObj(v)) throw new Error('expected an object');
  if (!isInt(v.id)) throw new Error('id: expected an integer');
  if (!isText(v.lxcpath)) throw new Error('lxcpath: expected a non-empty string');
  if (!isText(v.name)) throw new Error('name: expected a non-empty string');
  if (!Array.isArray(v.argv) || v.argv.length === 0 || !v.argv.every((a) => typeof a === 'string'))
    throw new Error('argv: expected a non-empty array of strings');
  return { id: v.id, lxcpath: v.lxcpath, name: v.name, argv: v.argv as string[] };
}

/** A reply, or null for anything else (the client ignores lines it does not understand). */
export function parseStartReply(v: unknown): StartReply | null {
  if (!isObj(v) || !isInt(v.id) || typeof v.ok !== 'boolean') return null;
  if (v.error !== undefined && typeof v.error !== 'string') return null;
  if (v.initPid !== undefined && !isInt(v.initPid)) return null;
  return {
    id: v.id,
    ok: v.ok,
    ...(v.error !== undefined ? { error: v.error } : {}),
    ...(v.initPid !== undefined ? { initPid: v.initPid } : {}),
  };
}

export function parseStarterHello(v: unknown): StarterHello | null {
  if (!isObj(v) || v.hello !== 'fleet-lxc-starter' || typeof v.lxcVersion !== 'string' || !isInt(v.pid))
    return null;
  return { hello: 'fleet-lxc-starter', lxcVersion: v.lxcVersion, pid: v.pid };
}
