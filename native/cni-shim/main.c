/*
 * cni-shim/main.c — `ctnet-cni`, the compiled CNI plugin: read the call, answer VERSION,
 * choose between the agent, starting one and the self-contained fallback, and print CNI
 * error objects.
 *
 * Part of the compiled plugin (native/cni-shim/shim.h; docs/ARCHITECTURE.md, "Layers" and
 * "Errors"). The contract with the agent is /work/tools/agent-wire.md, documented for users
 * in docs/agent-protocol.md. Every failure the shim itself finds is a CNI error object on
 * stdout with exit code 1, naming the socket, the cause and the fix.
 */
#include "shim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char stdin_buf[MAX_STDIN + 1];
static char out_buf[16384];

const char *errno_name(int e) {
  switch (e) {
    case ENOENT: return "ENOENT (no such file)";
    case ECONNREFUSED: return "ECONNREFUSED (nobody listens on it)";
    case EACCES: return "EACCES (permission denied)";
    case EPERM: return "EPERM (operation not permitted)";
    case ECONNRESET: return "ECONNRESET (connection reset)";
    case EPIPE: return "EPIPE (the agent closed the connection)";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOTDIR: return "ENOTDIR (a part of the path is not a directory)";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOTSOCK: return "ENOTSOCK (not a socket)";
    case ENOEXEC: return "ENOEXEC (not an executable)";
    case EAGAIN: return "EAGAIN";
    case EMFILE: return "EMFILE (too many open files)";
    case ENOMEM: return "ENOMEM";
    default: {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
      const char *name = strerrorname_np(e);
      if (name != NULL) return name;
#endif
      return "an unexpected errno";
    }
  }
}

_Noreturn void cni_fail(const shim_call *c, int code, const char *msg, const char *details) {
  sink s;
  sink_init(&s, out_buf, sizeof out_buf, 1, 0);
  sink_str(&s, "{\"cniVersion\":");
  if (c != NULL && c->cni_version_len > 0) sink_json_string(&s, c->cni_version, c->cni_version_len);
  else sink_str(&s, "\"" DEFAULT_CNI_VERSION "\"");
  sink_str(&s, ",\"code\":");
  sink_uint(&s, (unsigned long)code);
  sink_str(&s, ",\"msg\":");
  sink_json_string(&s, msg, strlen(msg));
  if (details != NULL && details[0] != '\0') {
    sink_str(&s, ",\"details\":");
    sink_json_string(&s, details, strlen(details));
  }
  sink_str(&s, "}\n");
  sink_flush(&s);
  _exit(1);
}

_Noreturn void cni_failv(const shim_call *c, int code, const char *details, ...) {
  static char msg[MAX_PATH_LEN * 2 + 512];
  size_t o = 0;
  va_list ap;
  va_start(ap, details);
  for (const char *piece; (piece = va_arg(ap, const char *)) != NULL;) {
    size_t k = strlen(piece);
    if (o + k >= sizeof msg) k = sizeof msg - 1 - o;
    memcpy(msg + o, piece, k);
    o += k;
  }
  va_end(ap);
  msg[o] = '\0';
  cni_fail(c, code, msg, details);
}

/* ---- the config's few top-level keys ---- */

typedef struct {
  shim_call *c;
  int bad_state_dir;   /* 1 not a string, 2 not absolute, 3 too long */
  int bad_agent;
} scan_ctx;

static void on_member(void *vctx, const char *key, size_t keylen, const char *val, size_t vlen) {
  scan_ctx *x = vctx;
  shim_call *c = x->c;
  if (key_is(key, keylen, "cniVersion")) {
    long k = json_string_decode(val, vlen, c->cni_version, sizeof c->cni_version);
    c->cni_version_len = k > 0 ? (size_t)k : 0; /* too long or not a string: as if absent */
  } else if (key_is(key, keylen, "agent")) {
    char m[16];
    long k = json_string_decode(val, vlen, m, sizeof m - 1);
    x->bad_agent = 1;
    if (k < 0) return;
    m[k] = '\0';
    if ((size_t)k == strlen(m) && (strcmp(m, "fallback") == 0 || strcmp(m, "auto") == 0 || strcmp(m, "required") == 0)) {
      memcpy(c->agent_mode, m, (size_t)k + 1);
      x->bad_agent = 0;
    }
  } else if (key_is(key, keylen, "ctnetStateDir")) {
    long k = json_string_decode(val, vlen, c->state_dir, sizeof c->state_dir - 1);
    x->bad_state_dir = vlen > 0 && val[0] != '"' ? 1 : k < 0 ? 3 : 0;
    if (k < 0) { c->state_dir[0] = '\0'; return; }
    c->state_dir[k] = '\0';
    if ((size_t)k != strlen(c->state_dir) || c->state_dir[0] != '/') { x->bad_state_dir = 2; c->state_dir[0] = '\0'; }
  }
}

static void read_stdin(shim_call *c) {
  size_t n = 0;
  for (;;) {
    ssize_t r = read(0, stdin_buf + n, sizeof stdin_buf - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EBADF) break; /* no stdin at all: an empty config */
      cni_failv(c, CNI_ERR_IO, "a runtime passes the network config on the plugin's stdin", "cannot read the network config from stdin: ", errno_name(errno), NULL);
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n > MAX_STDIN) {
      cni_failv(c, CNI_ERR_DECODE, "fix: keep the network config under 1 MiB (it is a plugin config, not data)",
                "network config on stdin is larger than 1 MiB (1048576 bytes)", NULL);
    }
  }
  c->stdin_buf = stdin_buf;
  c->stdin_len = n;
}

_Noreturn static void answer_version(const shim_call *c) {
  sink s;
  sink_init(&s, out_buf, sizeof out_buf, 1, 0);
  sink_str(&s, "{\"cniVersion\":");
  if (c->cni_version_len > 0) sink_json_string(&s, c->cni_version, c->cni_version_len);
  else sink_str(&s, "\"" DEFAULT_CNI_VERSION "\"");
  sink_str(&s, ",\"supportedVersions\":" SUPPORTED_VERSIONS "}\n");
  _exit(sink_flush(&s) == 0 ? 0 : 1);
}

static void sleep_ms(long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(void) {
  static shim_call call;
  shim_call *c = &call;
  memcpy(c->agent_mode, "fallback", sizeof "fallback");
  c->command = getenv("CNI_COMMAND");
  read_stdin(c);

  scan_ctx x = { c, 0, 0 };
  if (json_object_members(c->stdin_buf, c->stdin_len, on_member, &x) < 0) {
    /* A malformed config says nothing (what was read before the fault neither): the
     * handler reports it, with the defaults' agent and state directory. */
    c->cni_version_len = 0;
    c->state_dir[0] = '\0';
    memcpy(c->agent_mode, "fallback", sizeof "fallback");
    x.bad_agent = x.bad_state_dir = 0;
  }

  if (c->command != NULL && strcmp(c->command, "VERSION") == 0) answer_version(c);

  if (x.bad_agent) {
    cni_fail(c, CNI_ERR_CONFIG, "invalid network config: \"agent\" must be \"fallback\", \"auto\" or \"required\"",
             "fallback (default): run self-contained when no agent listens; auto: start the agent; required: fail without one");
  }
  if (x.bad_state_dir) {
    cni_fail(c, CNI_ERR_CONFIG,
             x.bad_state_dir == 3 ? "invalid network config: \"ctnetStateDir\" is longer than 4095 bytes"
                                  : "invalid network config: \"ctnetStateDir\" must be an absolute path (a string starting with /)",
             "it names the agent's state directory; leave it out for $CTNET_STATE_DIR or /run/ctnet-fast");
  }
  if (c->state_dir[0] == '\0') {
    const char *env = getenv("CTNET_STATE_DIR");
    const char *dir = env != NULL && env[0] != '\0' ? env : DEFAULT_STATE_DIR;
    size_t k = strlen(dir);
    if (k >= sizeof c->state_dir) cni_fail(c, CNI_ERR_ENV, "CTNET_STATE_DIR is longer than 4095 bytes", NULL);
    memcpy(c->state_dir, dir, k + 1);
  }
  size_t k = strlen(c->state_dir);
  memcpy(c->sock_path, c->state_dir, k);
  memcpy(c->sock_path + k, "/agent.sock", sizeof "/agent.sock");

  int fd = agent_connect(c);
  if (fd >= 0) agent_relay(c, fd);
  int err = -fd;
  if (err != ENOENT && err != ECONNREFUSED) {
    const char *fix = err == EACCES || err == EPERM
      ? "fix: run the runtime as root or as a member of the agent's group (socket mode 0660)"
      : err == ENAMETOOLONG ? "fix: a unix socket path holds at most 107 bytes; choose a shorter ctnetStateDir / CTNET_STATE_DIR"
                            : "fix: check that the path is the agent's socket (ctnet-fast agent status)";
    cni_failv(c, CNI_ERR_TRY_LATER, fix, "cannot connect to the ctnet-fast agent at ", c->sock_path, ": ", errno_name(err), NULL);
  }
  if (strcmp(c->agent_mode, "required") == 0) {
    cni_failv(c, CNI_ERR_TRY_LATER,
              "fix: start it (ctnet-fast agent run, or its systemd unit from ctnet-fast agent install), or set \"agent\": \"fallback\" in the network config",
              "ctnet-fast agent is not running at ", c->sock_path, " (connect: ", errno_name(err), ")", NULL);
  }
  if (strcmp(c->agent_mode, "auto") == 0) {
    int started = agent_start(c);
    if (started == 0) {
      long deadline = now_ms() + AUTO_START_WAIT_MS;
      do {
        sleep_ms(5);
        fd = agent_connect(c);
        if (fd >= 0) agent_relay(c, fd);
      } while (now_ms() < deadline);
    }
    fallback_exec(c, started == 0 ? "the agent did not come up within 2 s" : "the agent could not be started");
  }
  fallback_exec(c, "no agent listens");
}
