// Thin, synchronous wrappers over Linux system calls Node does not expose. Each throws a JS
// Error carrying `code` (errno name), `errno` and `syscall`, like Node's own fs errors, so the
// TypeScript wrapper can tell ENOENT from EXDEV from EBUSY.
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/reboot.h>
#include <linux/watchdog.h>
#include <poll.h>
#include <stdio.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

const char* ErrnoName(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENOTTY: return "ENOTTY";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOTSUP: return "ENOTSUP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    default: return "EUNKNOWN";
  }
}

Napi::Value ThrowErrno(Napi::Env env, int e, const char* syscall, const std::string& detail) {
  std::string msg = std::string(ErrnoName(e)) + ": " + strerror(e) + ", " + syscall + " " + detail;
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, ErrnoName(e)));
  err.Set("errno", Napi::Number::New(env, -e));
  err.Set("syscall", Napi::String::New(env, syscall));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool NeedArgs(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  if (info.Length() < n) {
    Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// renameat2(from, to, RENAME_EXCHANGE): atomically swap two existing paths (pointer swap).
Napi::Value ExchangePaths(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 2, "exchangePaths(a: string, b: string)")) return env.Undefined();
  std::string a = info[0].As<Napi::String>();
  std::string b = info[1].As<Napi::String>();
  // glibc 2.36 has renameat2(); the raw syscall keeps this working on older libcs too.
  if (syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
    return ThrowErrno(env, errno, "renameat2", "'" + a + "' <-> '" + b + "'");
  }
  return env.Undefined();
}

Napi::Value FsyncPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 1, "fsyncPath(path: string)")) return env.Undefined();
  std::string p = info[0].As<Napi::String>();
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", "'" + p + "'");
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "fsync", "'" + p + "'");
  }
  close(fd);
  return env.Undefined();
}

Napi::Value Syncfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 1, "syncfs(path: string)")) return env.Undefined();
  std::string p = info[0].As<Napi::String>();
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", "'" + p + "'");
  if (syncfs(fd) != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "syncfs", "'" + p + "'");
  }
  close(fd);
  return env.Undefined();
}

Napi::Value Statvfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 1, "statvfs(path: string)")) return env.Undefined();
  std::string p = info[0].As<Napi::String>();
  struct statvfs s;
  if (statvfs(p.c_str(), &s) != 0) return ThrowErrno(env, errno, "statvfs", "'" + p + "'");
  Napi::Object o = Napi::Object::New(env);
  const double frsize = static_cast<double>(s.f_frsize);
  o.Set("blockSize", Napi::Number::New(env, frsize));
  o.Set("totalBytes", Napi::Number::New(env, static_cast<double>(s.f_blocks) * frsize));
  o.Set("freeBytes", Napi::Number::New(env, static_cast<double>(s.f_bfree) * frsize));
  o.Set("availableBytes", Napi::Number::New(env, static_cast<double>(s.f_bavail) * frsize));
  o.Set("totalInodes", Napi::Number::New(env, static_cast<double>(s.f_files)));
  o.Set("freeInodes", Napi::Number::New(env, static_cast<double>(s.f_ffree)));
  o.Set("readOnly", Napi::Boolean::New(env, (s.f_flag & ST_RDONLY) != 0));
  return o;
}

// mount(source, target, fstype, flags, data); flags arrive as a number built by the wrapper.
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 5, "mount(source, target, fstype, flags, data)")) return env.Undefined();
  std::string source = info[0].As<Napi::String>();
  std::string target = info[1].As<Napi::String>();
  std::string fstype = info[2].As<Napi::String>();
  unsigned long flags = static_cast<unsigned long>(info[3].As<Napi::Number>().Int64Value());
  std::string data = info[4].As<Napi::String>();
  if (mount(source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(), flags,
            data.empty() ? nullptr : data.c_str()) != 0) {
    return ThrowErrno(env, errno, "mount", "'" + source + "' on '" + target + "'");
  }
  return env.Undefined();
}

Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 2, "umount2(target, flags)")) return env.Undefined();
  std::string target = info[0].As<Napi::String>();
  int flags = info[1].As<Napi::Number>().Int32Value();
  if (umount2(target.c_str(), flags) != 0) return ThrowErrno(env, errno, "umount2", "'" + target + "'");
  return env.Undefined();
}

// sync() then reboot(cmd). Only returns (by throwing) when the kernel refused.
Napi::Value Reboot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 1, "reboot(cmd)")) return env.Undefined();
  int cmd = info[0].As<Napi::Number>().Int32Value();
  const unsigned int ucmd = static_cast<unsigned int>(cmd);
  if (ucmd != LINUX_REBOOT_CMD_RESTART && ucmd != LINUX_REBOOT_CMD_POWER_OFF && ucmd != LINUX_REBOOT_CMD_HALT) {
    Napi::RangeError::New(env, "reboot: cmd must be RESTART, POWER_OFF or HALT").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  sync();
  if (reboot(cmd) != 0) return ThrowErrno(env, errno, "reboot", "");
  return env.Undefined();
}

Napi::Value WatchdogOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 1, "watchdogOpen(path)")) return env.Undefined();
  std::string p = info[0].As<Napi::String>();
  int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", "'" + p + "'");
  return Napi::Number::New(env, fd);
}

Napi::Value WatchdogKeepalive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 1, "watchdogKeepalive(fd)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int dummy = 0;
  if (ioctl(fd, WDIOC_KEEPALIVE, &dummy) != 0) return ThrowErrno(env, errno, "ioctl", "WDIOC_KEEPALIVE");
  return env.Undefined();
}

Napi::Value WatchdogSetTimeout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 2, "watchdogSetTimeout(fd, seconds)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int seconds = info[1].As<Napi::Number>().Int32Value();
  if (ioctl(fd, WDIOC_SETTIMEOUT, &seconds) != 0) return ThrowErrno(env, errno, "ioctl", "WDIOC_SETTIMEOUT");
  return Napi::Number::New(env, seconds);
}

// Magic close: writing 'V' before close tells the driver the stop is intended (no reset),
// when the driver supports it (not with nowayout).
Napi::Value WatchdogClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 2, "watchdogClose(fd, magic)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool magic = info[1].As<Napi::Boolean>().Value();
  if (magic && write(fd, "V", 1) != 1) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "write", "watchdog magic close");
  }
  if (close(fd) != 0) return ThrowErrno(env, errno, "close", "watchdog");
  return env.Undefined();
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

// waitPidExit(pid, timeoutMs): a pidfd watched by the event loop (uv_poll) with a uv timer, so
// waiting for a process to end costs no thread and no polling, and resolves at the exit itself.
struct ExitWait {
  uv_poll_t poll;
  uv_timer_t timer;
  int fd = -1;
  int open_handles = 2;
  bool settled = false;
  napi_env env = nullptr;
  napi_deferred deferred = nullptr;
  napi_async_context context = nullptr;
};

void ExitWaitClosed(uv_handle_t* h) {
  auto* w = static_cast<ExitWait*>(h->data);
  if (--w->open_handles > 0) return;
  close(w->fd);
  napi_async_destroy(w->env, w->context);
  delete w;
}

void ExitWaitSettle(ExitWait* w, bool exited) {
  if (w->settled) return;
  w->settled = true;
  uv_poll_stop(&w->poll);
  uv_timer_stop(&w->timer);
  {
    // A callback scope, so promise reactions run now rather than at the next JS callback.
    Napi::HandleScope scope(w->env);
    napi_callback_scope cb_scope;
    napi_value resource;
    napi_create_object(w->env, &resource);
    napi_open_callback_scope(w->env, resource, w->context, &cb_scope);
    napi_value result;
    napi_get_boolean(w->env, exited, &result);
    napi_resolve_deferred(w->env, w->deferred, result);
    napi_close_callback_scope(w->env, cb_scope);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), ExitWaitClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->timer), ExitWaitClosed);
}

Napi::Value WaitPidExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!NeedArgs(info, 2, "waitPidExit(pid, timeoutMs)")) return env.Undefined();
  int64_t pid = info[0].As<Napi::Number>().Int64Value();
  double timeout = info[1].As<Napi::Number>().DoubleValue();
  if (pid < 1 || pid > 0x3fffffff) {
    Napi::RangeError::New(env, "waitPidExit: pid must be a positive process id").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!(timeout >= 0) || timeout > 2147483647.0) {
    Napi::RangeError::New(env, "waitPidExit: timeoutMs must be 0..2147483647").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  if (fd < 0) {
    if (errno == ESRCH) {  // already gone (and reaped)
      Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
      done.Resolve(Napi::Boolean::New(env, true));
      return done.Promise();
    }
    return ThrowErrno(env, errno, "pidfd_open", std::to_string(pid));
  }
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 0) > 0 || timeout == 0) {
    close(fd);
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    done.Resolve(Napi::Boolean::New(env, p.revents != 0));
    return done.Promise();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    close(fd);
    Napi::Error::New(env, "waitPidExit: no event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* w = new ExitWait();
  w->fd = fd;
  w->env = env;
  napi_value promise;
  napi_create_promise(env, &w->deferred, &promise);
  napi_value name = Napi::String::New(env, "fleet.waitPidExit");
  napi_async_init(env, nullptr, name, &w->context);
  w->poll.data = w;
  w->timer.data = w;
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc != 0) {
    napi_async_destroy(env, w->context);
    close(fd);
    napi_value err = Napi::Error::New(env, std::string("waitPidExit: uv_poll_init: ") + uv_strerror(rc)).Value();
    napi_reject_deferred(env, w->deferred, err);
    delete w;
    return Napi::Value(env, promise);
  }
  uv_timer_init(loop, &w->timer);
  uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int, int) {
    ExitWaitSettle(static_cast<ExitWait*>(h->data), true);
  });
  uv_timer_start(&w->timer, [](uv_timer_t* h) { ExitWaitSettle(static_cast<ExitWait*>(h->data), false); },
                 static_cast<uint64_t>(timeout), 0);
  return Napi::Value(env, promise);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("exchangePaths", Napi::Function::New(env, ExchangePaths));
  exports.Set("fsyncPath", Napi::Function::New(env, FsyncPath));
  exports.Set("syncfs", Napi::Function::New(env, Syncfs));
  exports.Set("statvfs", Napi::Function::New(env, Statvfs));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount2", Napi::Function::New(env, Umount2));
  exports.Set("reboot", Napi::Function::New(env, Reboot));
  exports.Set("watchdogOpen", Napi::Function::New(env, WatchdogOpen));
  exports.Set("watchdogKeepalive", Napi::Function::New(env, WatchdogKeepalive));
  exports.Set("watchdogSetTimeout", Napi::Function::New(env, WatchdogSetTimeout));
  exports.Set("watchdogClose", Napi::Function::New(env, WatchdogClose));
  exports.Set("waitPidExit", Napi::Function::New(env, WaitPidExit));
  Napi::Object c = Napi::Object::New(env);
  c.Set("MS_RDONLY", Napi::Number::New(env, MS_RDONLY));
  c.Set("MS_NOSUID", Napi::Number::New(env, MS_NOSUID));
  c.Set("MS_NODEV", Napi::Number::New(env, MS_NODEV));
  c.Set("MS_NOEXEC", Napi::Number::New(env, MS_NOEXEC));
  c.Set("MS_REMOUNT", Napi::Number::New(env, MS_REMOUNT));
  c.Set("MS_BIND", Napi::Number::New(env, MS_BIND));
  c.Set("MS_REC", Napi::Number::New(env, MS_REC));
  c.Set("MS_PRIVATE", Napi::Number::New(env, MS_PRIVATE));
  c.Set("MNT_FORCE", Napi::Number::New(env, MNT_FORCE));
  c.Set("MNT_DETACH", Napi::Number::New(env, MNT_DETACH));
  c.Set("REBOOT_RESTART", Napi::Number::New(env, LINUX_REBOOT_CMD_RESTART));
  c.Set("REBOOT_POWER_OFF", Napi::Number::New(env, LINUX_REBOOT_CMD_POWER_OFF));
  c.Set("REBOOT_HALT", Napi::Number::New(env, LINUX_REBOOT_CMD_HALT));
  exports.Set("constants", c);
  return exports;
}

}  // namespace

NODE_API_MODULE(fleet_native, Init)
