/*
 * cni-shim/fallback.c — when no agent listens: find node and the ctnet-fast package, then
 * either start the agent in the background ("agent": "auto") or replace the shim with the
 * self-contained Node entry, `node PKG/dist/bundle/cni.cjs`, with the same environment and
 * the same stdin (the config already read is handed over in a memfd).
 *
 * Part of the compiled plugin (native/cni-shim/shim.h; docs/ARCHITECTURE.md, "Layers").
 * Where node and the package are, in this order:
 *   1. ctnet-cni.json beside the executable, written by `ctnet-fast cni install`:
 *      {"node":"/usr/bin/node","pkg":"/usr/lib/node_modules/ctnet-fast"}. Trusted only when it
 *      is a regular file owned by root and writable by nobody else (it decides what runs as
 *      root), like the directory it is in;
 *   2. an executable at PKG/build/Release/ctnet-cni (the build tree, /proc/self/exe): PKG,
 *      and node from $PATH, then /usr/local/bin/node, /usr/bin/node.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>

extern char **environ;

typedef struct {
  char exe_dir[MAX_PATH_LEN];
  char node[MAX_PATH_LEN];
  char pkg[MAX_PATH_LEN];
  const char *source;   /* how they were found, for messages */
  char why[MAX_PATH_LEN + 256];
} where_t;

static void copy(char *dst, size_t cap, const char *a, const char *b) {
  size_t ka = strlen(a), kb = b != NULL ? strlen(b) : 0;
  if (ka + kb >= cap) { dst[0] = '\0'; return; }
  memcpy(dst, a, ka);
  if (kb > 0) memcpy(dst + ka, b, kb);
  dst[ka + kb] = '\0';
}

static int is_executable(const char *p) {
  struct stat st;
  return p[0] == '/' && stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static void on_member(void *vctx, const char *key, size_t keylen, const char *val, size_t vlen) {
  where_t *w = vctx;
  char *dst = key_is(key, keylen, "node") ? w->node : key_is(key, keylen, "pkg") ? w->pkg : NULL;
  if (dst == NULL) return;
  long k = json_string_decode(val, vlen, dst, MAX_PATH_LEN - 1);
  dst[k < 0 ? 0 : k] = '\0';
  if (k < 0 || (size_t)k != strlen(dst) || dst[0] != '/') dst[0] = '\0';
}

/* 1: ctnet-cni.json beside the executable. 0 when absent, -1 when present but not trusted. */
static int from_manifest(where_t *w) {
  static char buf[1 << 18]; /* the manifest lists every file placed: a few hundred bytes each */
  char path[MAX_PATH_LEN + 32];
  struct stat st, dst;
  copy(path, sizeof path, w->exe_dir, "/ctnet-cni.json");
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0 ||
      stat(w->exe_dir, &dst) < 0 || dst.st_uid != 0 || (dst.st_mode & 022) != 0) {
    copy(w->why, sizeof w->why, path, " is not trusted: it and its directory must be owned by root and writable by nobody else (fix: ctnet-fast cni install)");
    close(fd);
    return -1;
  }
  size_t n = 0;
  while (n < sizeof buf) {
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (n == 0 || n == sizeof buf || json_object_members(buf, n, on_member, w) < 0 || w->node[0] == '\0' || w->pkg[0] == '\0') {
    copy(w->why, sizeof w->why, path, " is not a JSON object with absolute paths \"node\" and \"pkg\" (fix: ctnet-fast cni install)");
    return -1;
  }
  w->source = "ctnet-cni.json";
  return 1;
}

/* 2: the build tree. */
static int from_build_tree(where_t *w) {
  static const char *const tails[] = { "/build/Release", "/build/Debug" };
  size_t k = strlen(w->exe_dir);
  for (int i = 0; i < 2; i++) {
    size_t t = strlen(tails[i]);
    if (k <= t || strcmp(w->exe_dir + k - t, tails[i]) != 0) continue;
    memcpy(w->pkg, w->exe_dir, k - t);
    w->pkg[k - t] = '\0';
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
      const char *end = strchr(path, ':');
      size_t n = end != NULL ? (size_t)(end - path) : strlen(path);
      if (n > 0 && n + 6 < sizeof w->node) {
        memcpy(w->node, path, n);
        memcpy(w->node + n, "/node", 6);
        if (is_executable(w->node)) { w->source = "the build tree and $PATH"; return 1; }
      }
      path = end != NULL ? end + 1 : NULL;
    }
    static const char *const known[] = { "/usr/local/bin/node", "/usr/bin/node" };
    for (int j = 0; j < 2; j++) {
      if (is_executable(known[j])) { copy(w->node, sizeof w->node, known[j], NULL); w->source = "the build tree"; return 1; }
    }
    copy(w->why, sizeof w->why, "no node executable in $PATH, /usr/local/bin or /usr/bin (package ", w->pkg);
    return -1;
  }
  return 0;
}

static void locate(const shim_call *c, where_t *w) {
  memset(w, 0, sizeof *w);
  ssize_t k = readlink("/proc/self/exe", w->exe_dir, sizeof w->exe_dir - 1);
  if (k <= 0) {
    cni_failv(c, CNI_ERR_TRY_LATER, "fix: mount /proc, or start the agent", "ctnet-cni cannot read /proc/self/exe to find its package", NULL);
  }
  w->exe_dir[k] = '\0';
  char *slash = strrchr(w->exe_dir, '/');
  if (slash != NULL) *slash = '\0';
  int r = from_manifest(w);
  if (r == 0) r = from_build_tree(w);
  if (r < 0) {
    cni_failv(c, CNI_ERR_TRY_LATER, "fix: start the agent (ctnet-fast agent run), or reinstall the plugin (ctnet-fast cni install)",
              "ctnet-fast agent is not running at ", c->sock_path, " and the self-contained mode cannot start: ", w->why, NULL);
  }
  if (r == 0) {
    cni_failv(c, CNI_ERR_TRY_LATER, "fix: start the agent (ctnet-fast agent run), or install the plugin with ctnet-fast cni install (it writes ctnet-cni.json)",
              "ctnet-fast agent is not running at ", c->sock_path, " and ", w->exe_dir,
              " has no ctnet-cni.json naming node and the ctnet-fast package (self-contained mode)", NULL);
  }
}

int agent_start(const shim_call *c) {
  where_t w;
  char cli[MAX_PATH_LEN + 32];
  locate(c, &w);
  copy(cli, sizeof cli, w.pkg, "/bin/ctnet-fast.cjs");
  if (access(cli, R_OK) != 0) return -errno;
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0) {
    /* Child: a new session, then a grandchild that the child's exit hands to init. */
    setsid();
    if (fork() != 0) _exit(0);
    /* The agent outlives this call: it must hold nothing of the runtime's (a leaked pipe
     * the runtime waits on, a cwd in a container bundle it will unmount). */
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); if (nul > 2) close(nul); }
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
#endif
    {
      long max = sysconf(_SC_OPEN_MAX);
      for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++) close((int)fd);
    }
    if (chdir("/") < 0) _exit(127);
    char *argv[] = { w.node, cli, "--state-dir", (char *)c->state_dir, "agent", "run", NULL };
    execve(w.node, argv, environ);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return 0;
}

_Noreturn void fallback_exec(const shim_call *c, const char *why) {
  where_t w;
  char entry[MAX_PATH_LEN + 32];
  locate(c, &w);
  copy(entry, sizeof entry, w.pkg, "/dist/bundle/cni.cjs");
  if (access(entry, R_OK) != 0) {
    int e = errno;
    cni_failv(c, CNI_ERR_TRY_LATER, "fix: build the package (npm run build), or start the agent (ctnet-fast agent run)",
              "ctnet-fast agent is not running at ", c->sock_path, " (", why, ") and the self-contained entry ", entry,
              " cannot be read: ", errno_name(e), NULL);
  }
  /* The config was read already: hand the same bytes to node as its stdin. */
  int mfd = memfd_create("ctnet-cni-stdin", MFD_CLOEXEC);
  if (mfd < 0) cni_failv(c, CNI_ERR_IO, "the self-contained mode needs memfd_create (Linux ≥ 3.17)", "memfd_create: ", errno_name(errno), NULL);
  size_t off = 0;
  while (off < c->stdin_len) {
    ssize_t wr = write(mfd, c->stdin_buf + off, c->stdin_len - off);
    if (wr < 0) {
      if (errno == EINTR) continue;
      cni_failv(c, CNI_ERR_IO, NULL, "cannot hand the config to the self-contained mode (memfd write): ", errno_name(errno), NULL);
    }
    off += (size_t)wr;
  }
  if (lseek(mfd, 0, SEEK_SET) < 0 || dup2(mfd, 0) < 0) {
    cni_failv(c, CNI_ERR_IO, NULL, "cannot hand the config to the self-contained mode (stdin): ", errno_name(errno), NULL);
  }
  char *argv[] = { w.node, entry, NULL };
  execve(w.node, argv, environ);
  cni_failv(c, CNI_ERR_TRY_LATER, "fix: reinstall the plugin (ctnet-fast cni install) so that ctnet-cni.json names the node executable",
            "ctnet-fast agent is not running at ", c->sock_path, " and the self-contained mode cannot start ", w.node, ": ", errno_name(errno), NULL);
}
