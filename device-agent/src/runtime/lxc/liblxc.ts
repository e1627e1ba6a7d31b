// The koffi binding to liblxc. This directory is the only place koffi is imported (lint rule).
//
// Calls that block (start, stop, shutdown, freeze, unfreeze, wait) run through koffi `.async`
// on a worker with a big stack: at koffi's default 128 KiB async stack liblxc's start path
// segfaults in the container child and the caller hangs forever (research §5.5).
// `start()` forks the calling process: only the starter process (starter-main.ts) calls it.
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import {
  checkLxcVersion,
  LXC_CONTAINER_SIZE,
  LXC_FIELD_OFFSETS,
  LXC_METHODS,
  MEASURED_METHOD_OFFSETS,
  methodOffset,
  type LxcMethod,
} from './layout.js';

export type LxcState =
  'STOPPED' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'ABORTING' | 'FREEZING' | 'FROZEN' | 'THAWED';

const STATES: ReadonlySet<string> = new Set([
  'STOPPED',
  'STARTING',
  'RUNNING',
  'STOPPING',
  'ABORTING',
  'FREEZING',
  'FROZEN',
  'THAWED',
]);

export class LxcError extends Error {
  override readonly name = 'LxcError';
}

/** 1 MiB: the probe saw 256 KiB..8 MiB work and 128 KiB crash; keep a wide margin. */
const ASYNC_STACK_BYTES = 1 << 20;

// `_Bool` must be declared as koffi `bool` (only AL is defined by the SysV ABI, research §5.7).
const PROTOS: Partial<Record<LxcMethod, string>> = {
  is_defined: 'bool lxc_is_defined_t(void *c)',
  state: 'const char *lxc_state_t(void *c)',
  is_running: 'bool lxc_is_running_t(void *c)',
  freeze: 'bool lxc_freeze_t(void *c)',
  unfreeze: 'bool lxc_unfreeze_t(void *c)',
  init_pid: 'int lxc_init_pid_t(void *c)',
  load_config: 'bool lxc_load_config_t(void *c, const char *alt_file)',
  start: 'bool lxc_start_t(void *c, int useinit, const char **argv)',
  stop: 'bool lxc_stop_t(void *c)',
  want_daemonize: 'bool lxc_want_daemonize_t(void *c, bool state)',
  wait: 'bool lxc_wait_t(void *c, const char *state, int timeout)',
  set_config_item: 'bool lxc_set_config_item_t(void *c, const char *key, const char *value)',
  save_config: 'bool lxc_save_config_t(void *c, const char *alt_file)',
  shutdown: 'bool lxc_shutdown_t(void *c, int timeout)',
  clear_config: 'void lxc_clear_config_t(void *c)',
  clear_config_item: 'bool lxc_clear_config_item_t(void *c, const char *key)',
  get_config_item: 'int lxc_get_config_item_t(void *c, const char *key, void *retv, int inlen)',
  get_cgroup_item: 'int lxc_get_cgroup_item_t(void *c, const char *subsys, void *retv, int inlen)',
  set_cgroup_item: 'bool lxc_set_cgroup_item_t(void *c, const char *subsys, const char *value)',
};

type Fn = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };

function callAsync<T>(fn: Fn, args: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn.async(...args, (err: unknown, result: T) => (err ? reject(err) : resolve(result)));
  });
}

export interface LiblxcOptions {
  /** Library to load; the soname by default. */
  readonly path?: string;
}

/** A loaded liblxc whose version and struct layout were checked. Build once in main.ts. */
export class Liblxc {
  readonly version: string;
  private readonly containerNew: Fn;
  private readonly containerPut: Fn;
  private readonly protos = new Map<LxcMethod, TypeObject>();
  private readonly methods = new Map<LxcMethod, Fn>();

  private constructor(lib: LibraryHandle, version: string) {
    this.version = version;
    this.containerNew = lib.func('void *lxc_container_new(const char *name, const char *configpath)') as Fn;
    this.containerPut = lib.func('int lxc_container_put(void *c)') as Fn;
    for (const [method, decl] of Object.entries(PROTOS)) {
      this.protos.set(method as LxcMethod, koffi.proto(decl));
    }
  }

  static load(options: LiblxcOptions = {}): Liblxc {
    const config = koffi.config();
    if ((config.async_stack_size ?? 0) < ASYNC_STACK_BYTES) {
      koffi.config({ ...config, async_stack_size: ASYNC_STACK_BYTES });
    }
    assertLayout();
    let lib: LibraryHandle;
    const path = options.path ?? 'liblxc.so.1';
    try {
      lib = koffi.load(path);
    } catch (err) {
      throw new LxcError(`cannot load ${path} (is the lxc package installed?): ${(err as Error).message}`);
    }
    let version: string | null;
    try {
      version = (lib.func('const char *lxc_get_version(void)') as Fn)() as string | null;
    } catch (err) {
      throw new LxcError(`${path} has no lxc_get_version: ${(err as Error).message}`);
    }
    const check = checkLxcVersion(version);
    if (!check.ok) throw new LxcError(check.reason);
    return new Liblxc(lib, check.version);
  }

  /** A handle on container `name` under `lxcpath` (reads `<lxcpath>/<name>/config` if present). */
  open(name: string, lxcpath: string): LxcContainer {
    const ptr = this.containerNew(name, lxcpath);
    if (!ptr) throw new LxcError(`lxc_container_new(${name}, ${lxcpath}) failed`);
    // Run-time layout check: the first and the last string member read back what we passed.
    const readName = koffi.decode(ptr, LXC_FIELD_OFFSETS.name, 'const char *') as string | null;
    const readPath = koffi.decode(ptr, LXC_FIELD_OFFSETS.config_path, 'const char *') as string | null;
    if (readName !== name || readPath !== lxcpath) {
      this.containerPut(ptr);
      throw new LxcError(
        `struct lxc_container layout mismatch: read name=${String(readName)} config_path=${String(readPath)}`,
      );
    }
    return new LxcContainer(this, ptr, name, lxcpath);
  }

  /** @internal */
  method(ptr: unknown, method: LxcMethod): Fn {
    let fn = this.methods.get(method);
    if (!fn) {
      const proto = this.protos.get(method);
      if (!proto) throw new LxcError(`no prototype bound for ${method}`);
      const fnPtr = koffi.decode(ptr, methodOffset(method), 'void *');
      if (!fnPtr) throw new LxcError(`liblxc left ${method} NULL`);
      // The pointers are the same static functions for every container: decode once.
      fn = koffi.decode(fnPtr, proto) as Fn;
      this.methods.set(method, fn);
    }
    return fn;
  }

  /** @internal */
  put(ptr: unknown): number {
    return this.containerPut(ptr) as number;
  }
}

function assertLayout(): void {
  const members: Record<string, string> = {
    name: 'char *',
    configfile: 'char *',
    pidfile: 'char *',
    slock: 'void *',
    privlock: 'void *',
    numthreads: 'int',
    lxc_conf: 'void *',
    error_string: 'char *',
    error_num: 'int',
    daemonize: 'bool',
    config_path: 'char *',
  };
  for (const m of LXC_METHODS) members[m] = 'void *';
  const struct = koffi.struct(members);
  const wrong: string[] = [];
  for (const [field, offset] of Object.entries(LXC_FIELD_OFFSETS)) {
    if (koffi.offsetof(struct, field) !== offset)
      wrong.push(`${field}@${koffi.offsetof(struct, field)}!=${offset}`);
  }
  for (const [m, offset] of Object.entries(MEASURED_METHOD_OFFSETS)) {
    const got = koffi.offsetof(struct, m);
    if (got !== offset || methodOffset(m as LxcMethod) !== offset) wrong.push(`${m}@${got}!=${offset}`);
  }
  if (koffi.sizeof(struct) !== LXC_CONTAINER_SIZE)
    wrong.push(`sizeof ${koffi.sizeof(struct)}!=${LXC_CONTAINER_SIZE}`);
  if (wrong.length > 0)
    throw new LxcError(`struct lxc_container layout self-check failed: ${wrong.join(', ')}`);
}

/**
 * One `struct lxc_container *`. Not thread-safe by design: JS is single-threaded, and `put()`
 * waits for in-flight async calls so liblxc never sees a freed struct.
 */
export class LxcContainer {
  private pending = 0;
  private released = false;
  private putRequested = false;

  constructor(
    private readonly lib: Liblxc,
    private readonly ptr: unknown,
    readonly name: string,
    readonly lxcpath: string,
  ) {}

  private fn(method: LxcMethod): Fn {
    if (this.released || this.putRequested)
      throw new LxcError(`container handle ${this.name} already released`);
    return this.lib.method(this.ptr, method);
  }

  private async callAsync<T>(method: LxcMethod, args: unknown[]): Promise<T> {
    const fn = this.fn(method);
    this.pending++;
    try {
      return await callAsync<T>(fn, [this.ptr, ...args]);
    } finally {
      this.pending--;
      if (this.pending === 0 && this.putRequested) this.release();
    }
  }

  isDefined(): boolean {
    return this.fn('is_defined')(this.ptr) as boolean;
  }

  state(): LxcState {
    const s = this.fn('state')(this.ptr) as string | null;
    if (s === null || !STATES.has(s)) throw new LxcError(`unexpected state ${String(s)} for ${this.name}`);
    return s as LxcState;
  }

  isRunning(): boolean {
    return this.fn('is_running')(this.ptr) as boolean;
  }

  /** Host pid of the container's init, or null when it does not run. */
  initPid(): number | null {
    const pid = this.fn('init_pid')(this.ptr) as number;
    return pid > 0 ? pid : null;
  }

  wantDaemonize(on: boolean): boolean {
    return this.fn('want_daemonize')(this.ptr, on) as boolean;
  }

  /** True when the `daemonize` flag in the struct is set (layout readback, offset 68). */
  daemonizeFlag(): boolean {
    return koffi.decode(this.ptr, LXC_FIELD_OFFSETS.daemonize, 'bool') as boolean;
  }

  loadConfig(file: string | null = null): boolean {
    return this.fn('load_config')(this.ptr, file) as boolean;
  }

  saveConfig(file: string | null = null): boolean {
    return this.fn('save_config')(this.ptr, file) as boolean;
  }

  setConfigItem(key: string, value: string): boolean {
    return this.fn('set_config_item')(this.ptr, key, value) as boolean;
  }

  /** The value, "" when unset, null when liblxc does not know the key (trailing newline dropped). */
  getConfigItem(key: string): string | null {
    return this.readBuffer('get_config_item', key)?.replace(/\n$/, '') ?? null;
  }

  getCgroupItem(key: string): string | null {
    return this.readBuffer('get_cgroup_item', key);
  }

  setCgroupItem(key: string, value: string): boolean {
    return this.fn('set_cgroup_item')(this.ptr, key, value) as boolean;
  }

  clearConfig(): void {
    this.fn('clear_config')(this.ptr);
  }

  clearConfigItem(key: string): boolean {
    return this.fn('clear_config_item')(this.ptr, key) as boolean;
  }

  /** liblxc sets error_num to 1 on entry to start() and leaves it there: only bool returns are truth. */
  errorNum(): number {
    return koffi.decode(this.ptr, LXC_FIELD_OFFSETS.error_num, 'int') as number;
  }

  errorString(): string | null {
    return koffi.decode(this.ptr, LXC_FIELD_OFFSETS.error_string, 'const char *') as string | null;
  }

  /**
   * Start with `argv` as the workload (useinit: liblxc's init.lxc runs as pid 1, forwards
   * signals and reaps zombies). FORKS THE CALLING PROCESS: only the starter process may call it.
   */
  start(argv: readonly string[] | null, useInit: boolean): Promise<boolean> {
    // koffi copies the array; liblxc wants a NULL-terminated char *[].
    return this.callAsync('start', [useInit ? 1 : 0, argv ? [...argv, null] : null]);
  }

  /** Hard stop: the monitor SIGKILLs init and waits for STOPPED. */
  stop(): Promise<boolean> {
    return this.callAsync('stop', []);
  }

  /** Send lxc.signal.halt to init and wait up to `timeoutSeconds` (-1: forever) for STOPPED. */
  shutdown(timeoutSeconds: number): Promise<boolean> {
    return this.callAsync('shutdown', [timeoutSeconds]);
  }

  freeze(): Promise<boolean> {
    return this.callAsync('freeze', []);
  }

  unfreeze(): Promise<boolean> {
    return this.callAsync('unfreeze', []);
  }

  /** Wait up to `timeoutSeconds` (-1: forever) for `state`. */
  wait(state: LxcState, timeoutSeconds: number): Promise<boolean> {
    return this.callAsync('wait', [state, timeoutSeconds]);
  }

  /** Drop our reference; deferred until in-flight async calls return. */
  put(): void {
    if (this.released || this.putRequested) return;
    this.putRequested = true;
    if (this.pending === 0) this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.lib.put(this.ptr);
  }

  private readBuffer(method: 'get_config_item' | 'get_cgroup_item', key: string): string | null {
    const fn = this.fn(method);
    const len = fn(this.ptr, key, null, 0) as number;
    if (len < 0) return null;
    if (len === 0) return '';
    const buf = Buffer.alloc(len + 1);
    const got = fn(this.ptr, key, buf, len + 1) as number;
    if (got < 0) return null;
    return buf.subarray(0, Math.min(got, len)).toString('utf8');
  }
}
