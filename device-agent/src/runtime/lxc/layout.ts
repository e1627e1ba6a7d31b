// The layout of `struct lxc_container` that the koffi binding relies on. It comes from
// `src/lxc/lxccontainer.h` at tag lxc-5.0.2 (byte-identical across 5.0.0..5.0.3) and was checked
// three ways on this machine (gcc offsetof, koffi.offsetof, run-time readback): see
// docs/decisions/0010-lxc-binding-and-starter.md. LXC 6.0 only appends members after
// `devpts_fd`, and we never allocate the struct ourselves, so 6.0 keeps every offset below.

/** Members before the function-pointer table, with their byte offsets on LP64. */
export const LXC_FIELD_OFFSETS = {
  name: 0,
  configfile: 8,
  pidfile: 16,
  slock: 24,
  privlock: 32,
  numthreads: 40,
  lxc_conf: 48,
  error_string: 56,
  error_num: 64,
  daemonize: 68,
  config_path: 72,
} as const;

/** The 61 function pointers of `struct lxc_container`, in header order (offset 80 + 8*i). */
export const LXC_METHODS = [
  'is_defined',
  'state',
  'is_running',
  'freeze',
  'unfreeze',
  'init_pid',
  'load_config',
  'start',
  'startl',
  'stop',
  'want_daemonize',
  'want_close_all_fds',
  'config_file_name',
  'wait',
  'set_config_item',
  'destroy',
  'save_config',
  'create',
  'createl',
  'rename',
  'reboot',
  'shutdown',
  'clear_config',
  'clear_config_item',
  'get_config_item',
  'get_running_config_item',
  'get_keys',
  'get_interfaces',
  'get_ips',
  'get_cgroup_item',
  'set_cgroup_item',
  'get_config_path',
  'set_config_path',
  'clone',
  'console_getfd',
  'console',
  'attach',
  'attach_run_wait',
  'attach_run_waitl',
  'snapshot',
  'snapshot_list',
  'snapshot_restore',
  'snapshot_destroy',
  'may_control',
  'add_device_node',
  'remove_device_node',
  'attach_interface',
  'detach_interface',
  'checkpoint',
  'restore',
  'destroy_with_snapshots',
  'snapshot_destroy_all',
  'migrate',
  'console_log',
  'reboot2',
  'mount',
  'umount',
  'seccomp_notify_fd',
  'seccomp_notify_fd_active',
  'init_pidfd',
  'devpts_fd',
] as const;

export type LxcMethod = (typeof LXC_METHODS)[number];

export const LXC_FIRST_METHOD_OFFSET = 80;
/** sizeof(struct lxc_container) for 5.0.x on x86_64 and aarch64 (both LP64). */
export const LXC_CONTAINER_SIZE = 568;

export function methodOffset(method: LxcMethod): number {
  return LXC_FIRST_METHOD_OFFSET + 8 * LXC_METHODS.indexOf(method);
}

/**
 * The offsets the probe measured with gcc, kept apart from the table above so that a slip in
 * the member list (one name dropped or swapped) shows up as a mismatch instead of silently
 * shifting every later pointer.
 */
export const MEASURED_METHOD_OFFSETS: Partial<Record<LxcMethod, number>> = {
  is_defined: 80,
  state: 88,
  is_running: 96,
  freeze: 104,
  unfreeze: 112,
  init_pid: 120,
  load_config: 128,
  start: 136,
  startl: 144,
  stop: 152,
  want_daemonize: 160,
  want_close_all_fds: 168,
  config_file_name: 176,
  wait: 184,
  set_config_item: 192,
  destroy: 200,
  save_config: 208,
  create: 216,
  shutdown: 248,
  clear_config_item: 264,
  get_config_item: 272,
  get_running_config_item: 280,
  get_keys: 288,
  get_cgroup_item: 312,
  set_cgroup_item: 320,
  get_config_path: 328,
  attach_run_wait: 376,
  may_control: 424,
  reboot2: 512,
  init_pidfd: 552,
  devpts_fd: 560,
};

/** Versions whose `struct lxc_container` starts with exactly the layout above. */
const SUPPORTED = /^(5\.0|6\.0)\.\d+/;

export type VersionCheck = { ok: true; version: string } | { ok: false; reason: string };

/** Decide whether the loaded liblxc matches the bound layout; never guesses on unknown versions. */
export function checkLxcVersion(version: string | null | undefined): VersionCheck {
  if (!version)
    return { ok: false, reason: 'liblxc did not report a version (lxc_get_version returned NULL)' };
  if (!SUPPORTED.test(version)) {
    return {
      ok: false,
      reason:
        `liblxc ${version} is not supported: the binding was laid out for struct lxc_container of ` +
        'LXC 5.0.x (also valid for 6.0.x, which only appends members); install LXC 5.0 or 6.0',
    };
  }
  return { ok: true, version };
}
