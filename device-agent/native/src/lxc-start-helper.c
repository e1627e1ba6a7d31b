/*
 * fleet-lxc-start: start LXC containers through liblxc's API, daemonized.
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
 * One shot:
 *   fleet-lxc-start --layout is_defined=80,is_running=96,init_pid=120,start=136,want_daemonize=160
 *                   <lxcpath> <name> -- <argv...>
 *   prints the init pid on success (exit 0); a reason on stderr otherwise (exit 1 or 2).
 *
 * Served (what the agent runs, runtime/lxc/starter.ts HelperStarter):
 *   fleet-lxc-start --layout ... --serve
 *   One process for the agent's lifetime: liblxc is loaded once, and each start costs the wake-up
 *   of a child forked in advance instead of the agent spawning a program (a fork of the whole
 *   Node process, an exec, dynamic linking of liblxc and five libraries; docs/runtime.md).
 *   Requests on stdin: the byte length of the rest, then NUL-terminated fields (argv may hold
 *   any other byte):
 *     <length>\0 <id>\0 <lxcpath>\0 <name>\0 <argc>\0 <argv[0]>\0 ... <argv[argc-1]>\0
 *   A spare child, forked before the request arrives, reads exactly one request, tells the server
 *   (which forks the next spare), and calls liblxc's start(): starts run in parallel, and only
 *   that child, never the server, is moved into the container's monitor cgroups (it exits right
 *   after). It answers with one line on stdout, written with a single write(2) (atomic on a pipe):
 *     <id> ok 0\n      or      <id> err <reason>\n
 *   (0: the served mode does not ask the new monitor for the init pid; decision 0024.)
 *   EOF on stdin (the agent closed it or died) ends the server; children in flight finish.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

struct lxc_api {
  struct layout l;
  new_fn container_new;
  put_fn container_put;
};

/* Start one container; 0 (and the init pid unless pid is NULL) on success, else 1 and a reason in err. */
static int start_one(const struct lxc_api *api, const char *lxcpath, const char *name, char *const argv[],
                     pid_t *pid, char *err, size_t errlen) {
  const struct layout *l = &api->l;
  void *c = api->container_new(name, lxcpath);
  if (!c) {
    snprintf(err, errlen, "lxc_container_new(%s, %s) failed", name, lxcpath);
    return 1;
  }
  int rc = 1;
  if (!((bool_fn)METHOD(c, l->is_defined))(c)) {
    snprintf(err, errlen, "container %s has no config under %s", name, lxcpath);
  } else if (((bool_fn)METHOD(c, l->is_running))(c)) {
    snprintf(err, errlen, "container %s is already running", name);
  } else {
    ((daemonize_fn)METHOD(c, l->want_daemonize))(c, true);
    if (((start_fn)METHOD(c, l->start))(c, 0, argv)) {
      if (pid) *pid = ((pid_fn)METHOD(c, l->init_pid))(c);
      rc = 0;
    } else {
      snprintf(err, errlen, "liblxc start() returned false");
    }
  }
  api->container_put(c);
  return rc;
}

static void reap(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

/* One line, one write(2): replies of parallel children never interleave (PIPE_BUF is 4096). */
static void reply(const char *id, int rc, pid_t pid, const char *err) {
  char line[1024];
  int n = rc == 0 ? snprintf(line, sizeof(line), "%s ok %d\n", id, (int)pid)
                  : snprintf(line, sizeof(line), "%s err %s\n", id, err);
  if (n < 0) return;
  if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1, line[n - 1] = '\n';
  for (int i = 0; i < n - 1; i++)
    if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  ssize_t w;
  do w = write(STDOUT_FILENO, line, (size_t)n);
  while (w < 0 && errno == EINTR);
}

/* read(2) exactly n bytes; 0 on success, 1 at EOF before the first byte, -1 on a short read. */
static int read_exact(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got == 0 && r == 0 ? 1 : -1;
    got += (size_t)r;
  }
  return 0;
}

/* The spare's token to the server: T took a request, E end of input, X bad input. */
static void token(int fd, char t) {
  ssize_t w;
  do w = write(fd, &t, 1);
  while (w < 0 && errno == EINTR);
}

/*
 * A spare child: reads exactly one request from stdin with unbuffered reads (so it never
 * consumes the next one), tells the server it took it, then starts the container. Never returns.
 * Request: <length>\0 then <length> bytes of NUL-terminated fields:
 *   <id> <lxcpath> <name> <argc> <argv[0]> ... <argv[argc-1]>
 */
static void serve_one(const struct lxc_api *api, int notify) {
  char len_field[16];
  size_t n = 0;
  for (;;) {
    int r = read_exact(STDIN_FILENO, &len_field[n], 1);
    if (r == 1 && n == 0) { /* EOF between requests: the agent is done */
      token(notify, 'E');
      _exit(0);
    }
    if (r != 0) { fprintf(stderr, "truncated request length\n"); token(notify, 'X'); _exit(2); }
    if (len_field[n] == '\0') break;
    if (++n == sizeof(len_field)) { fprintf(stderr, "bad request length\n"); token(notify, 'X'); _exit(2); }
  }
  char *end = NULL;
  long len = strtol(len_field, &end, 10);
  if (n == 0 || *end != '\0' || len < 8 || len > (1L << 20)) {
    /* The stream cannot be resynchronised after a bad length: stop, the agent respawns us. */
    fprintf(stderr, "bad request length \"%s\"\n", len_field);
    token(notify, 'X');
    _exit(2);
  }
  char *buf = malloc((size_t)len + 1);
  if (!buf || read_exact(STDIN_FILENO, buf, (size_t)len) != 0) {
    fprintf(stderr, "truncated request\n");
    token(notify, 'X');
    _exit(2);
  }
  /* The request is off the pipe: the server forks the next spare while this one starts. */
  token(notify, 'T');
  close(notify);
  buf[len] = '\0';

  char *fields[4 + 4096 + 1];
  long nf = 0;
  for (char *p = buf; p < buf + len && nf < (long)(sizeof(fields) / sizeof(fields[0]) - 1); p += strlen(p) + 1)
    fields[nf++] = p;
  const char *id = nf > 0 ? fields[0] : "0";
  long argc = nf >= 4 ? strtol(fields[3], &end, 10) : -1;
  if (buf[len - 1] != '\0' || nf < 5 || *end != '\0' || argc < 1 || argc > 4096 || nf != 4 + argc) {
    reply(id, 1, 0, "malformed request (fields do not match argc)");
    _exit(1);
  }
  fields[nf] = NULL;
  /* liblxc waits for its own children: no inherited handler in the way. */
  signal(SIGCHLD, SIG_DFL);
  char err[512] = "";
  pid_t pid = 0;
  /* No init_pid() round trip to the new monitor: the agent reads the pid from lxc.log. */
  int rc = start_one(api, fields[1], fields[2], &fields[4], NULL, err, sizeof(err));
  reply(id, rc, pid, err);
  _exit(rc);
}

/*
 * One spare child is always waiting on stdin (forked before its request arrives), so a start
 * costs the agent's write and the spare's wake-up, not a fork of the server on the critical
 * path. When the spare has read its request it says so on a pipe and the server forks the next
 * one; each spare answers on stdout and exits.
 */
static int serve(const struct lxc_api *api) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = reap;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);

  for (;;) {
    /* A pipe per spare: once the server closed its write end, EOF means the spare died. */
    int notify[2];
    if (pipe2(notify, O_CLOEXEC) != 0) {
      fprintf(stderr, "pipe: %s\n", strerror(errno));
      return 2;
    }
    fflush(stderr);
    pid_t spare = fork();
    if (spare < 0) {
      fprintf(stderr, "fork: %s\n", strerror(errno));
      return 2;
    }
    if (spare == 0) {
      close(notify[0]);
      serve_one(api, notify[1]);
    }
    close(notify[1]);
    char t = 0;
    ssize_t r;
    do r = read(notify[0], &t, 1);
    while (r < 0 && errno == EINTR);
    close(notify[0]);
    if (r != 1) {
      fprintf(stderr, "start helper child died before taking a request\n");
      return 2;
    }
    if (t != 'T') {
      /* Reap the spare (it exits right after its token), so no zombie outlives the server when
       * pid 1 does not reap; children in flight finish on their own. */
      while (waitpid(spare, NULL, 0) < 0 && errno == EINTR) {
      }
      return t == 'E' ? 0 : 2;
    }
  }
}

int main(int argc, char **argv) {
  bool served = argc == 4 && strcmp(argv[1], "--layout") == 0 && strcmp(argv[3], "--serve") == 0;
  if (!served && (argc < 7 || strcmp(argv[1], "--layout") != 0 || strcmp(argv[5], "--") != 0)) {
    fprintf(stderr, "usage: %s --layout k=off,... (--serve | <lxcpath> <name> -- <argv...>)\n", argv[0]);
    return 2;
  }
  struct lxc_api api;
  if (parse_layout(argv[2], &api.l) != 0) {
    fprintf(stderr, "bad --layout: %s\n", argv[2]);
    return 2;
  }
  /* Whatever the parent ignored must not leak into the container's init. */
  signal(SIGPIPE, SIG_DFL);
  signal(SIGXFSZ, SIG_DFL);

  void *lib = dlopen("liblxc.so.1", RTLD_NOW);
  if (!lib) { fprintf(stderr, "cannot load liblxc.so.1: %s\n", dlerror()); return 1; }
  api.container_new = (new_fn)dlsym(lib, "lxc_container_new");
  api.container_put = (put_fn)dlsym(lib, "lxc_container_put");
  if (!api.container_new || !api.container_put) {
    fprintf(stderr, "liblxc.so.1 lacks lxc_container_new/put\n");
    return 1;
  }
  if (served) return serve(&api);

  char err[512] = "";
  pid_t pid = 0;
  if (start_one(&api, argv[3], argv[4], &argv[6], &pid, err, sizeof(err)) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  printf("%d\n", (int)pid);
  return 0;
}
