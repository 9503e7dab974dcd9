/*
 * cni-shim/agent.c — the shim's side of the agent wire (version 1): connect to
 * STATE_DIR/agent.sock, send hello and the cni request back to back (one round trip), read
 * the agent's hello and reply lines, and relay the reply: `stdout` to stdout, `stderr` to
 * stderr, exit with `exitCode`.
 *
 * Part of the compiled plugin (native/cni-shim/shim.h; docs/ARCHITECTURE.md, "Layers").
 * An agent that closes the connection, answers garbage, or answers nothing within 60 s
 * ($CTNET_CNI_TIMEOUT_MS overrides it) gives a CNI error 11 naming the socket; the shim never
 * hangs and never retries a request it may already have sent (the agent's own repair at
 * start undoes an ADD whose client got an error).
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char send_buf[65536];
/* The agent's two lines: hello (small) and the reply (≤ MAX_LINE). */
static char recv_buf[MAX_LINE + 65536];

static long reply_timeout_ms(void);
static long now_ms(void);

/* A unix stream connect blocks while the listener's backlog is full (an agent that stopped
 * accepting): connect non-blocking, retry EAGAIN until the reply timeout, then go back to
 * blocking I/O with a send timeout, so no step can hang. */
int agent_connect(const shim_call *c) {
  struct sockaddr_un a;
  size_t k = strlen(c->sock_path);
  if (k >= sizeof a.sun_path) return -ENAMETOOLONG;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, c->sock_path, k);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  long deadline = 0;
  for (;;) {
    if (connect(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + k + 1)) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      if (deadline == 0) deadline = now_ms() + reply_timeout_ms();
      if (now_ms() < deadline) {
        struct timespec ts = { 0, 5000000L };
        nanosleep(&ts, NULL);
        continue;
      }
      close(fd);
      cni_failv(c, CNI_ERR_TRY_LATER, "it may be stuck; see its log, or restart it (ctnet-fast agent run / systemctl restart ctnet-fast-agent)",
                "ctnet-fast agent at ", c->sock_path, " does not accept connections (its backlog is full)", NULL);
    }
    int e = errno;
    close(fd);
    return -e;
  }
  long ms = reply_timeout_ms();
  struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
  if (fcntl(fd, F_SETFL, 0) < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* The env object: every CNI_* variable, and CTNET_STATE_DIR (it names the agent's store). */
static void put_env(sink *s) {
  int first = 1;
  sink_str(s, "{");
  for (char **e = environ; *e != NULL; e++) {
    const char *kv = *e;
    if (strncmp(kv, "CNI_", 4) != 0 && strncmp(kv, "CTNET_STATE_DIR=", 16) != 0) continue;
    const char *eq = strchr(kv, '=');
    if (eq == NULL) continue;
    if (!first) sink_str(s, ",");
    first = 0;
    sink_json_string(s, kv, (size_t)(eq - kv));
    sink_str(s, ":");
    sink_json_string(s, eq + 1, strlen(eq + 1));
  }
  sink_str(s, "}");
}

static void put_request(sink *s, const shim_call *c) {
  sink_str(s, "{\"v\":1,\"type\":\"hello\",\"min\":1,\"max\":1,\"client\":\"" SHIM_CLIENT "\"}\n");
  sink_str(s, "{\"v\":1,\"type\":\"cni\",\"id\":1,\"env\":");
  put_env(s);
  sink_str(s, ",\"stdin\":");
  sink_json_string(s, c->stdin_buf, c->stdin_len);
  sink_str(s, "}\n");
}

/* The members of an agent line the shim reads. Strings are decoded in place. */
typedef struct {
  int ok;
  char type[16];
  char agent[64];   /* hello: "ctnet-fast/0.1.0" */
  long version, exit_code;
  int has_exit;
  char *out, *err, *code, *message;
  long out_len, err_len, code_len, message_len;
} line_t;

static long parse_int(const char *v, size_t n, int *ok) {
  long x = 0;
  size_t i = 0;
  int neg = n > 0 && v[0] == '-';
  if (neg) i++;
  if (i >= n) { *ok = 0; return 0; }
  for (; i < n; i++) {
    if (v[i] < '0' || v[i] > '9' || x > 100000000L) { *ok = 0; return 0; }
    x = x * 10 + (v[i] - '0');
  }
  *ok = 1;
  return neg ? -x : x;
}

static void on_member(void *vctx, const char *key, size_t keylen, const char *val, size_t vlen) {
  line_t *l = vctx;
  char *v = (char *)val; /* inside recv_buf: decoding in place is ours to do */
  int ok;
  if (key == NULL) return;
  if (keylen == 4 && memcmp(key, "type", 4) == 0) {
    long k = json_string_decode(val, vlen, l->type, sizeof l->type - 1);
    l->type[k < 0 ? 0 : k] = '\0';
  } else if (keylen == 5 && memcmp(key, "agent", 5) == 0) {
    long k = json_string_decode(val, vlen, l->agent, sizeof l->agent - 1);
    l->agent[k < 0 ? 0 : k] = '\0';
  } else if (keylen == 7 && memcmp(key, "version", 7) == 0) {
    l->version = parse_int(val, vlen, &ok);
    if (!ok) l->version = -1;
  } else if (keylen == 8 && memcmp(key, "exitCode", 8) == 0) {
    l->exit_code = parse_int(val, vlen, &ok);
    l->has_exit = ok;
  } else if (keylen == 6 && memcmp(key, "stdout", 6) == 0) {
    l->out_len = json_string_decode(val, vlen, v, vlen); l->out = v;
  } else if (keylen == 6 && memcmp(key, "stderr", 6) == 0) {
    l->err_len = json_string_decode(val, vlen, v, vlen); l->err = v;
  } else if (keylen == 4 && memcmp(key, "code", 4) == 0) {
    l->code_len = json_string_decode(val, vlen, v, vlen); l->code = v;
  } else if (keylen == 7 && memcmp(key, "message", 7) == 0) {
    l->message_len = json_string_decode(val, vlen, v, vlen); l->message = v;
  }
}

static line_t parse_line(char *p, size_t n) {
  line_t l;
  memset(&l, 0, sizeof l);
  l.version = -1; l.out_len = l.err_len = l.code_len = l.message_len = -1;
  l.ok = json_object_members(p, n, on_member, &l) == 0;
  return l;
}

/* REPLY_TIMEOUT_MS, or CTNET_CNI_TIMEOUT_MS when it is a whole number 1..600000. */
static long reply_timeout_ms(void) {
  const char *v = getenv("CTNET_CNI_TIMEOUT_MS");
  long ms = 0;
  if (v == NULL || *v == '\0') return REPLY_TIMEOUT_MS;
  for (; *v != '\0'; v++) {
    if (*v < '0' || *v > '9' || ms > 600000) return REPLY_TIMEOUT_MS;
    ms = ms * 10 + (*v - '0');
  }
  return ms >= 1 && ms <= 600000 ? ms : REPLY_TIMEOUT_MS;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Read until recv_buf holds a newline, or EOF/error (*eof set), or the deadline; the bytes
 * held. A line longer than MAX_LINE is an error. Only new bytes are searched. */
static size_t read_line(const shim_call *c, int fd, size_t have, long deadline, int *eof) {
  size_t scanned = 0;
  *eof = 0;
  for (;;) {
    char *nl = memchr(recv_buf + scanned, '\n', have - scanned);
    scanned = have;
    if ((nl != NULL ? (size_t)(nl - recv_buf) : have) > MAX_LINE) {
      cni_failv(c, CNI_ERR_TRY_LATER, "a wire line is at most 4 MiB; the agent is not speaking protocol version 1",
                "ctnet-fast agent at ", c->sock_path, " sent a line longer than 4 MiB", NULL);
    }
    if (nl != NULL) return have;
    long left = deadline - now_ms();
    if (left <= 0) {
      char ms[24];
      size_t i = sizeof ms - 4;
      memcpy(ms + i, " ms", 4);
      long v = reply_timeout_ms();
      do { ms[--i] = (char)('0' + v % 10); v /= 10; } while (v > 0 && i > 0);
      cni_failv(c, CNI_ERR_TRY_LATER, "it may be stuck; see its log, or restart it (ctnet-fast agent run / systemctl restart ctnet-fast-agent)",
                "ctnet-fast agent at ", c->sock_path, " did not answer within ", ms + i, NULL);
    }
    struct pollfd pfd = { fd, POLLIN, 0 };
    int pr = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
    if (pr < 0 && errno != EINTR) { *eof = errno; return have; }
    if (pr <= 0) continue;
    ssize_t r = read(fd, recv_buf + have, sizeof recv_buf - have);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      *eof = errno;
      return have;
    }
    if (r == 0) { *eof = -1; return have; }
    have += (size_t)r;
  }
}

_Noreturn static void vanished(const shim_call *c, const char *when, int err) {
  cni_failv(c, CNI_ERR_TRY_LATER,
            "the agent crashed or was restarted; a request it had not finished is undone when it starts again: retry",
            "ctnet-fast agent at ", c->sock_path, " closed the connection ", when,
            err > 0 ? " (" : "", err > 0 ? errno_name(err) : "", err > 0 ? ")" : "", NULL);
}

_Noreturn static void agent_error(const shim_call *c, const line_t *l) {
  static char details[8192];
  size_t o = 0;
  const char *parts[] = { "agent error ", l->code_len > 0 ? l->code : "?", ": ", l->message_len > 0 ? l->message : "(no message)" };
  size_t lens[] = { 12, l->code_len > 0 ? (size_t)l->code_len : 1, 2, l->message_len > 0 ? (size_t)l->message_len : 12 };
  for (int i = 0; i < 4; i++) {
    size_t k = lens[i] < sizeof details - 1 - o ? lens[i] : sizeof details - 1 - o;
    memcpy(details + o, parts[i], k);
    o += k;
  }
  details[o] = '\0';
  for (size_t i = 0; i < o; i++) if (details[i] == '\0') details[i] = ' ';
  cni_failv(c, CNI_ERR_AGENT_REFUSED, details, "ctnet-fast agent at ", c->sock_path, " refused the request", NULL);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return; }
    p += w; n -= (size_t)w;
  }
}

_Noreturn void agent_relay(const shim_call *c, int fd) {
  sink s;
  sink_init(&s, send_buf, sizeof send_buf, fd, 1);
  if ((size_t)c->stdin_len * 6 + 65536 > MAX_LINE) {
    /* Only a config full of odd bytes gets here: count its escaped size first. */
    sink count;
    char none[1];
    sink_init(&count, none, 0, -1, 0);
    put_request(&count, c);
    if (count.total > MAX_LINE) {
      cni_fail(c, CNI_ERR_DECODE, "network config is too large for the agent once escaped as JSON (a wire line is at most 4 MiB)",
               "fix: remove control characters and invalid UTF-8 from the config, or make it smaller");
    }
  }
  put_request(&s, c);
  int send_err = sink_flush(&s) < 0 ? s.err : 0;
  /* Even when sending failed the agent may have said why (an error line) before closing. */
  long deadline = now_ms() + reply_timeout_ms();
  int eof;
  size_t have = read_line(c, fd, 0, deadline, &eof);
  char *nl = memchr(recv_buf, '\n', have);
  if (nl == NULL) vanished(c, "before its hello", send_err ? send_err : eof);
  size_t hello_len = (size_t)(nl - recv_buf);
  line_t h = parse_line(recv_buf, hello_len);
  if (!h.ok) {
    cni_failv(c, CNI_ERR_TRY_LATER, "is something else listening on the agent's socket? (ctnet-fast agent status)",
              "ctnet-fast agent at ", c->sock_path, " answered the hello with a line that is not a JSON object", NULL);
  }
  if (strcmp(h.type, "error") == 0) agent_error(c, &h);
  if (strcmp(h.type, "hello") != 0 || h.version != 1) {
    char v[24];
    size_t i = sizeof v - 1;
    v[i] = '\0';
    unsigned long x = h.version < 0 ? 0 : (unsigned long)h.version;
    do { v[--i] = (char)('0' + x % 10); x /= 10; } while (x > 0 && i > 0);
    cni_failv(c, CNI_ERR_TRY_LATER, "fix: use the ctnet-cni built with the running agent (ctnet-fast cni install), or restart the agent",
              "ctnet-fast agent at ", c->sock_path, " (", h.agent[0] != '\0' ? h.agent : "unknown agent", ") answered wire version ",
              h.version < 0 ? "(none)" : v + i, "; " SHIM_CLIENT " speaks 1..1", NULL);
  }
  size_t start = hello_len + 1;
  memmove(recv_buf, recv_buf + start, have - start);
  have = read_line(c, fd, have - start, deadline, &eof);
  nl = memchr(recv_buf, '\n', have);
  if (nl == NULL) vanished(c, have > 0 ? "in the middle of its reply" : "without a reply", send_err ? send_err : eof);
  close(fd);
  line_t r = parse_line(recv_buf, (size_t)(nl - recv_buf));
  if (r.ok && strcmp(r.type, "error") == 0) agent_error(c, &r);
  if (!r.ok || strcmp(r.type, "reply") != 0 || !r.has_exit || r.out_len < 0) {
    cni_failv(c, CNI_ERR_TRY_LATER, "the agent and this plugin disagree on the wire; reinstall both from one package (ctnet-fast cni install)",
              "ctnet-fast agent at ", c->sock_path, " sent a reply without type \"reply\", an integer exitCode and a string stdout", NULL);
  }
  write_all(1, r.out, (size_t)r.out_len);
  if (r.err != NULL && r.err_len > 0) write_all(2, r.err, (size_t)r.err_len);
  _exit(r.exit_code >= 0 && r.exit_code <= 255 ? (int)r.exit_code : 1);
}
