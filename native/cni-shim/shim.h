/*
 * cni-shim/shim.h — the compiled CNI plugin `ctnet-cni`: what its four files share.
 *
 * The shim is the runtime-facing end of issue 11's agent design (docs/ARCHITECTURE.md,
 * "Layers": it sits outside the TypeScript tree and speaks to it only over the agent's
 * wire, docs/agent-protocol.md). It reads the CNI_* environment and stdin, answers VERSION
 * itself, hands every other command to the resident agent (STATE_DIR/agent.sock) and relays
 * the reply; with no agent it starts one or execs the self-contained Node entry
 * (dist/bundle/cni.cjs), as the config's "agent" key says.
 *
 * Start-up is the product here (≤ 2 ms): no stdio, no locale, no heap. Every buffer is a
 * fixed static array (untouched pages cost nothing), and output goes through write(2).
 *
 * Files: main.c (flow, VERSION, CNI error objects), json.c (bounded scanner, escaper,
 * unescaper), agent.c (socket, request, reply), fallback.c (finding node and the package,
 * execve, starting the agent).
 */
#ifndef CTNET_CNI_SHIM_H
#define CTNET_CNI_SHIM_H

#include <stddef.h>

#define SHIM_VERSION "0.1.0"
#define SHIM_CLIENT "ctnet-cni/" SHIM_VERSION
#define DEFAULT_STATE_DIR "/run/ctnet-fast"
#define DEFAULT_CNI_VERSION "1.1.0"
#define SUPPORTED_VERSIONS "[\"0.4.0\",\"1.0.0\",\"1.1.0\"]"

/* Limits. stdin above MAX_STDIN is CNI error 6; a wire line above MAX_LINE is refused by
 * the agent, so a request that would escape to more than that is error 6 too. */
#define MAX_STDIN (1u << 20)
#define MAX_LINE (4u << 20)
#define MAX_PATH_LEN 4096
/* How long the shim waits for the agent's reply; CTNET_CNI_TIMEOUT_MS (1..600000) overrides it. */
#define REPLY_TIMEOUT_MS 60000
#define AUTO_START_WAIT_MS 2000

/* CNI well-known error codes (SPEC.md "Error codes"); 100+ are this plugin's own. */
enum {
  CNI_ERR_VERSION = 1, CNI_ERR_ENV = 4, CNI_ERR_IO = 5, CNI_ERR_DECODE = 6,
  CNI_ERR_CONFIG = 7, CNI_ERR_TRY_LATER = 11, CNI_ERR_AGENT_REFUSED = 100,
};

/* ---- json.c ---- */

/* An output buffer: bytes collect in buf and are written to fd (send() when sock) when it
 * fills up; with fd < 0 it only counts what overflows (`len` keeps growing in `total`). */
typedef struct {
  char *buf;
  size_t cap, len;
  size_t total;      /* bytes put so far, flushed or not */
  int fd;            /* -1: memory only */
  int sock;          /* use send(MSG_NOSIGNAL) */
  int err;           /* errno of the first failed write, 0 if none; set on overflow with fd < 0 (ENOBUFS) */
} sink;

void sink_init(sink *s, char *buf, size_t cap, int fd, int sock);
void sink_put(sink *s, const char *p, size_t n);
void sink_str(sink *s, const char *z);
void sink_uint(sink *s, unsigned long v);
/* A JSON string literal (with quotes) for arbitrary bytes: control characters, quote and
 * backslash escaped; invalid UTF-8 replaced by \ufffd, one per maximal invalid subpart
 * (the WHATWG decoder's rule, which Node's Buffer#toString follows). */
void sink_json_string(sink *s, const char *p, size_t n);
int sink_flush(sink *s);

/* Called for each member of the top-level object: the key decoded (only keys up to 63
 * bytes; longer ones come as key == NULL), and the raw value text (a string keeps its quotes). */
typedef void (*member_fn)(void *ctx, const char *key, size_t keylen, const char *val, size_t vlen);
/* Scan text that must be one JSON object (whitespace around it allowed). Nesting deeper than
 * 512 levels, a raw control character in a string or a bad escape makes it malformed.
 * Returns 0 when it is well formed, -1 otherwise (members met before the fault were reported). */
int json_object_members(const char *p, size_t n, member_fn fn, void *ctx);
/* Decode the JSON string literal [p, p+n) (quotes included) into out (cap bytes). \u escapes
 * become UTF-8, lone surrogates U+FFFD. Returns the decoded length, or -1 when it is not a
 * string literal or does not fit. out may equal p (decoding never grows the text). */
long json_string_decode(const char *p, size_t n, char *out, size_t cap);
/* ASCII case-insensitive key match (Go's encoding/json, which CNI runtimes use, folds case). */
int key_is(const char *key, size_t keylen, const char *want);

/* ---- main.c ---- */

/* What the shim knows about its call. */
typedef struct {
  const char *command;          /* CNI_COMMAND or NULL */
  const char *stdin_buf;
  size_t stdin_len;
  char cni_version[128];        /* the config's cniVersion, else DEFAULT_CNI_VERSION */
  size_t cni_version_len;
  char agent_mode[16];          /* "fallback" (default), "auto", "required" */
  char state_dir[MAX_PATH_LEN];
  char sock_path[MAX_PATH_LEN + 16];
} shim_call;

/* Print a CNI error object on stdout and exit 1. msg and details are plain text. */
_Noreturn void cni_fail(const shim_call *c, int code, const char *msg, const char *details);
/* The same with the message built from pieces (NULL-terminated list). */
_Noreturn void cni_failv(const shim_call *c, int code, const char *details, ...);
const char *errno_name(int e);

/* ---- agent.c ---- */

/* Connect to c->sock_path: the socket fd, or -errno. */
int agent_connect(const shim_call *c);
/* Send hello + cni request on fd, read and relay the reply; never returns. */
_Noreturn void agent_relay(const shim_call *c, int fd);

/* ---- fallback.c ---- */

/* Start `node PKG/bin/ctnet-fast.cjs --state-dir DIR agent run` in the background, detached. 0 or -errno. */
int agent_start(const shim_call *c);
/* execve node PKG/dist/bundle/cni.cjs with this environment and the same stdin; never returns. */
_Noreturn void fallback_exec(const shim_call *c, const char *why);

#endif
