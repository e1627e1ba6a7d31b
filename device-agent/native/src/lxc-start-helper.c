/*
 * fleet-lxc-start: start one LXC container through liblxc's API, daemonized, then exit.
 *
 * liblxc's start() forks its caller; the fork becomes the container's `[lxc monitor]` and
 * keeps a copy-on-write image of the caller for the container's whole life, inherits its
 * ignored signals and is moved into the container's monitor cgroups. Called from this tiny
 * program (as lxc-start does), the monitor copies a few hundred KiB instead of a Node heap.
 *
 * There is no liblxc-dev on the target: the struct offsets of the function pointers come on
 * the command line from the agent's single layout table (device-agent/src/runtime/lxc/layout.ts),
 * whose version check has already run in the agent against the same library.
 *
 * usage: fleet-lxc-start --layout is_defined=80,is_running=96,init_pid=120,start=136,want_daemonize=160
 *                        <lxcpath> <name> -- <argv...>
 * prints the init pid on success (exit 0); a reason on stderr otherwise (exit 1 or 2).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef void *(*new_fn)(const char *, const char *);
typedef int (*put_fn)(void *);
typedef bool (*bool_fn)(void *);
typedef bool (*daemonize_fn)(void *, bool);
typedef pid_t (*pid_fn)(void *);
typedef bool (*start_fn)(void *, int, char *const[]);

struct layout { long is_defined, is_running, init_pid, start, want_daemonize; };

static int parse_layout(const char *spec, struct layout *l) {
  char *copy = strdup(spec), *save = NULL;
  memset(l, 0xff, sizeof(*l));
  for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq) { free(copy); return -1; }
    *eq = '\0';
    char *end = NULL;
    long off = strtol(eq + 1, &end, 10);
    if (*end != '\0' || off < 80 || off > 4096 || off % 8 != 0) { free(copy); return -1; }
    if (!strcmp(kv, "is_defined")) l->is_defined = off;
    else if (!strcmp(kv, "is_running")) l->is_running = off;
    else if (!strcmp(kv, "init_pid")) l->init_pid = off;
    else if (!strcmp(kv, "start")) l->start = off;
    else if (!strcmp(kv, "want_daemonize")) l->want_daemonize = off;
  }
  free(copy);
  return (l->is_defined < 0 || l->is_running < 0 || l->init_pid < 0 || l->start < 0 || l->want_daemonize < 0) ? -1 : 0;
}

#define METHOD(c, off) (*(void **)((char *)(c) + (off)))

int main(int argc, char **argv) {
  if (argc < 6 || strcmp(argv[1], "--layout") != 0 || strcmp(argv[5], "--") != 0 || argc < 7) {
    fprintf(stderr, "usage: %s --layout k=off,... <lxcpath> <name> -- <argv...>\n", argv[0]);
    return 2;
  }
  struct layout l;
  if (parse_layout(argv[2], &l) != 0) {
    fprintf(stderr, "bad --layout: %s\n", argv[2]);
    return 2;
  }
  /* Whatever the parent ignored must not leak into the container's init. */
  signal(SIGPIPE, SIG_DFL);
  signal(SIGXFSZ, SIG_DFL);

  void *lib = dlopen("liblxc.so.1", RTLD_NOW);
  if (!lib) { fprintf(stderr, "cannot load liblxc.so.1: %s\n", dlerror()); return 1; }
  new_fn container_new = (new_fn)dlsym(lib, "lxc_container_new");
  put_fn container_put = (put_fn)dlsym(lib, "lxc_container_put");
  if (!container_new || !container_put) { fprintf(stderr, "liblxc.so.1 lacks lxc_container_new/put\n"); return 1; }

  const char *lxcpath = argv[3], *name = argv[4];
  void *c = container_new(name, lxcpath);
  if (!c) { fprintf(stderr, "lxc_container_new(%s, %s) failed\n", name, lxcpath); return 1; }
  int rc = 1;
  if (!((bool_fn)METHOD(c, l.is_defined))(c)) {
    fprintf(stderr, "container %s has no config under %s\n", name, lxcpath);
  } else if (((bool_fn)METHOD(c, l.is_running))(c)) {
    fprintf(stderr, "container %s is already running\n", name);
  } else {
    ((daemonize_fn)METHOD(c, l.want_daemonize))(c, true);
    if (((start_fn)METHOD(c, l.start))(c, 0, &argv[6])) {
      printf("%d\n", (int)((pid_fn)METHOD(c, l.init_pid))(c));
      rc = 0;
    } else {
      fprintf(stderr, "liblxc start() returned false\n");
    }
  }
  container_put(c);
  return rc;
}
