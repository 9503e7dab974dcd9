/*
 * cni-shim/json.c — the little JSON the shim needs: an output buffer with a string escaper
 * that is correct for any bytes, a bounded scanner for the members of one top-level object,
 * and a string decoder.
 *
 * Part of the compiled plugin (native/cni-shim/shim.h; docs/ARCHITECTURE.md, "Layers").
 * The scanner never allocates and never recurses: nesting is tracked in a 512-bit stack, so
 * no input can make it use more than a few hundred bytes of memory or run more than linear
 * time. It accepts a little more than strict JSON in numbers and literals (it only needs to
 * step over them); strings and nesting are checked exactly. test/unit/cni-shim-json.test.ts
 * fuzzes it through the binary.
 */
#include "shim.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void sink_init(sink *s, char *buf, size_t cap, int fd, int sock) {
  s->buf = buf; s->cap = cap; s->len = 0; s->total = 0; s->fd = fd; s->sock = sock; s->err = 0;
}

int sink_flush(sink *s) {
  size_t off = 0;
  if (s->fd < 0) return s->err ? -1 : 0;
  while (off < s->len && !s->err) {
    ssize_t w = s->sock ? send(s->fd, s->buf + off, s->len - off, MSG_NOSIGNAL) : write(s->fd, s->buf + off, s->len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      s->err = errno;
      break;
    }
    off += (size_t)w;
  }
  s->len = 0;
  return s->err ? -1 : 0;
}

void sink_put(sink *s, const char *p, size_t n) {
  s->total += n;
  while (n > 0) {
    size_t room = s->cap - s->len;
    if (room == 0) {
      if (s->fd < 0) { s->err = ENOBUFS; return; }
      if (sink_flush(s) < 0) return;
      room = s->cap;
    }
    size_t k = n < room ? n : room;
    memcpy(s->buf + s->len, p, k);
    s->len += k; p += k; n -= k;
  }
}

void sink_str(sink *s, const char *z) { sink_put(s, z, strlen(z)); }

void sink_uint(sink *s, unsigned long v) {
  char tmp[24];
  size_t i = sizeof tmp;
  do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v > 0);
  sink_put(s, tmp + i, sizeof tmp - i);
}

static const char HEX[] = "0123456789abcdef";

/* One byte below 0x80 as JSON string content. */
static void put_ascii(sink *s, unsigned char b) {
  char e[6];
  switch (b) {
    case '"': sink_put(s, "\\\"", 2); return;
    case '\\': sink_put(s, "\\\\", 2); return;
    case '\n': sink_put(s, "\\n", 2); return;
    case '\r': sink_put(s, "\\r", 2); return;
    case '\t': sink_put(s, "\\t", 2); return;
    case '\b': sink_put(s, "\\b", 2); return;
    case '\f': sink_put(s, "\\f", 2); return;
    default:
      if (b >= 0x20 && b != 0x7f) { char c = (char)b; sink_put(s, &c, 1); return; }
      e[0] = '\\'; e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = HEX[b >> 4]; e[5] = HEX[b & 15];
      sink_put(s, e, 6);
  }
}

void sink_json_string(sink *s, const char *p, size_t n) {
  const unsigned char *u = (const unsigned char *)p;
  size_t i = 0;
  sink_put(s, "\"", 1);
  while (i < n) {
    size_t start = i;
    /* A run of printable ASCII goes out in one piece. */
    while (i < n && u[i] >= 0x20 && u[i] < 0x7f && u[i] != '"' && u[i] != '\\') i++;
    if (i > start) { sink_put(s, p + start, i - start); continue; }
    unsigned char b = u[i];
    if (b < 0x80) { put_ascii(s, b); i++; continue; }
    /* WHATWG UTF-8 decode of one sequence: its length when valid; else one U+FFFD for the
     * maximal invalid subpart (the lead byte and the continuation bytes that fit). */
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) { need = 2; if (b == 0xe0) lo = 0xa0; if (b == 0xed) hi = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; if (b == 0xf0) lo = 0x90; if (b == 0xf4) hi = 0x8f; }
    size_t j = i + 1, seen = 0;
    if (need > 0) {
      while (seen < need && j < n && u[j] >= lo && u[j] <= hi) { j++; seen++; lo = 0x80; hi = 0xbf; }
    }
    if (need > 0 && seen == need) sink_put(s, p + i, need + 1);
    else sink_put(s, "\\ufffd", 6);
    i = j;
  }
  sink_put(s, "\"", 1);
}

/* ---- scanner ---- */

#define MAX_DEPTH 512

static size_t skip_ws(const char *p, size_t n, size_t i) {
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
  return i;
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* i at the opening quote: the index after the closing quote, or 0 when malformed. */
static size_t skip_string(const char *p, size_t n, size_t i) {
  for (i++; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"') return i + 1;
    if (c < 0x20) return 0;
    if (c != '\\') continue;
    if (++i >= n) return 0;
    switch (p[i]) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': break;
      case 'u':
        if (i + 4 >= n || !is_hex(p[i + 1]) || !is_hex(p[i + 2]) || !is_hex(p[i + 3]) || !is_hex(p[i + 4])) return 0;
        i += 4;
        break;
      default: return 0;
    }
  }
  return 0;
}

static int is_scalar_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '+' || c == '.';
}

/* i at the start of a value: the index after it, or 0 when malformed. Containers are walked
 * with an explicit bit stack (1 = object), checking that brackets pair up. */
static size_t skip_value(const char *p, size_t n, size_t i) {
  unsigned char stack[MAX_DEPTH / 8];
  int depth = 0;
  if (i >= n) return 0;
  do {
    if (i >= n) return 0;
    char c = p[i];
    if (c == '"') {
      if ((i = skip_string(p, n, i)) == 0) return 0;
    } else if (c == '{' || c == '[') {
      if (depth >= MAX_DEPTH) return 0;
      if (c == '{') stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
      else stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
      depth++; i++;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return 0;
      int obj = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
      if (obj != (c == '}')) return 0;
      depth--; i++;
    } else if (depth > 0 && (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      i++;
    } else if (is_scalar_char(c)) {
      while (i < n && is_scalar_char(p[i])) i++;
    } else {
      return 0;
    }
  } while (depth > 0);
  return i;
}

int json_object_members(const char *p, size_t n, member_fn fn, void *ctx) {
  size_t i = skip_ws(p, n, 0);
  if (i >= n || p[i] != '{') return -1;
  i = skip_ws(p, n, i + 1);
  if (i < n && p[i] == '}') return skip_ws(p, n, i + 1) == n ? 0 : -1;
  for (;;) {
    if (i >= n || p[i] != '"') return -1;
    size_t kend = skip_string(p, n, i);
    if (kend == 0) return -1;
    char key[64];
    long kl = json_string_decode(p + i, kend - i, key, sizeof key);
    i = skip_ws(p, n, kend);
    if (i >= n || p[i] != ':') return -1;
    i = skip_ws(p, n, i + 1);
    size_t vend = skip_value(p, n, i);
    if (vend == 0) return -1;
    fn(ctx, kl < 0 ? NULL : key, kl < 0 ? 0 : (size_t)kl, p + i, vend - i);
    i = skip_ws(p, n, vend);
    if (i < n && p[i] == ',') { i = skip_ws(p, n, i + 1); continue; }
    if (i < n && p[i] == '}') return skip_ws(p, n, i + 1) == n ? 0 : -1;
    return -1;
  }
}

static unsigned hex4(const char *h) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = h[k];
    v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

static size_t utf8_put(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) { o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f)); return 3; }
  o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

long json_string_decode(const char *p, size_t n, char *out, size_t cap) {
  if (n < 2 || p[0] != '"' || skip_string(p, n, 0) != n) return -1;
  size_t o = 0;
  char tmp[4];
  for (size_t i = 1; i < n - 1;) {
    const char *piece = p + i;
    size_t len = 1;
    if (p[i] != '\\') {
      i++;
    } else {
      char e = p[i + 1];
      i += 2;
      piece = tmp;
      switch (e) {
        case 'b': tmp[0] = '\b'; break;
        case 'f': tmp[0] = '\f'; break;
        case 'n': tmp[0] = '\n'; break;
        case 'r': tmp[0] = '\r'; break;
        case 't': tmp[0] = '\t'; break;
        case 'u': {
          unsigned cp = hex4(p + i);
          i += 4;
          if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= n - 1 && p[i] == '\\' && p[i + 1] == 'u') {
            unsigned lo = hex4(p + i + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); i += 6; }
          }
          if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
          len = utf8_put(tmp, cp);
          break;
        }
        default: tmp[0] = e; break; /* " \ / */
      }
    }
    if (o + len > cap) return -1;
    memmove(out + o, piece, len); /* out may be p itself: o never passes i */
    o += len;
  }
  return (long)o;
}

int key_is(const char *key, size_t keylen, const char *want) {
  size_t n = strlen(want);
  if (key == NULL || keylen != n) return 0;
  for (size_t i = 0; i < n; i++) {
    char a = key[i], b = want[i];
    if (a >= 'A' && a <= 'Z') a = (char)(a | 0x20);
    if (b >= 'A' && b <= 'Z') b = (char)(b | 0x20);
    if (a != b) return 0;
  }
  return 1;
}
