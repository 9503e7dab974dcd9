// native/conntrack.cc — see conntrack.h. Attribute numbers come from the kernel's uapi
// headers (linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h); the layout:
//
//   nlmsghdr  type = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_{GET,DELETE,NEW}
//   nfgenmsg  { nfgen_family = AF_INET|AF_INET6, version = NFNETLINK_V0, res_id = 0 }
//   CTA_TUPLE_ORIG / CTA_TUPLE_REPLY (nested)
//     CTA_TUPLE_IP (nested): CTA_IP_V4_SRC/DST (4 bytes) or CTA_IP_V6_SRC/DST (16 bytes)
//     CTA_TUPLE_PROTO (nested): CTA_PROTO_NUM (u8), CTA_PROTO_SRC_PORT/DST_PORT (be16)
//     CTA_TUPLE_ZONE (be16, a directional zone; kept as is)
//   CTA_ID (be32: the entry's id), CTA_ZONE (be16: only for a zone other than the default)
//
// A dump answers IPCTNL_MSG_CT_NEW messages. A delete names the entry by its original tuple
// (copied byte for byte from the dump, so zones and ports are the kernel's own) and its
// CTA_ID, so an entry that ended and was replaced by a new flow with the same tuple between
// the dump and the delete is not touched (the kernel answers ENOENT: already gone).
#include "conntrack.h"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "nl_msg.h"

namespace ctn {

namespace {

constexpr uint16_t kCtGet = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
constexpr uint16_t kCtNew = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
constexpr uint16_t kCtDelete = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
// Deletes per sendmsg: well under the socket's send buffer, and few enough that their error
// answers (ENOENT for entries that ended meanwhile) always fit the receive buffer.
constexpr size_t kDeletesPerSend = 256;

// One direction of an entry, as far as the filters need it.
struct Tuple {
  int family = 0;
  uint8_t src[16] = {}, dst[16] = {};
  uint8_t proto = 0;
  bool ports = false;
  uint16_t sport = 0, dport = 0;  // host order
};

// An entry to delete: its family, CTA_TUPLE_ORIG's payload, and CTA_ID / CTA_ZONE as dumped.
struct Victim {
  size_t filter = 0;  // the index of the filter that chose it
  int family = 0;
  std::vector<uint8_t> orig;
  bool hasId = false;
  uint32_t id = 0;  // network order, sent back as is
  bool hasZone = false;
  uint16_t zone = 0;
};

size_t addrLen(int family) { return family == AF_INET ? 4 : 16; }

bool be16(const Attr& a, uint16_t* out) {
  if (a.len != 2) return false;
  uint8_t b[2];
  std::memcpy(b, a.data, 2);
  *out = static_cast<uint16_t>(b[0] << 8 | b[1]);
  return true;
}

// CTA_TUPLE_IP + CTA_TUPLE_PROTO of one CTA_TUPLE_ORIG/REPLY nest. False when it has no
// usable addresses (then the entry is never matched).
bool parseTuple(const Attr& nest, Tuple* t) {
  if (!nest.present()) return false;
  Attr tb[CTA_TUPLE_MAX + 1];
  if (!parseAttrs(nest.data, nest.len, tb, CTA_TUPLE_MAX, nullptr)) return false;
  Attr ip[CTA_IP_MAX + 1];
  if (!tb[CTA_TUPLE_IP].present() || !parseAttrs(tb[CTA_TUPLE_IP].data, tb[CTA_TUPLE_IP].len, ip, CTA_IP_MAX, nullptr))
    return false;
  const Attr *s = nullptr, *d = nullptr;
  if (ip[CTA_IP_V4_SRC].len == 4 && ip[CTA_IP_V4_DST].len == 4) {
    t->family = AF_INET;
    s = &ip[CTA_IP_V4_SRC];
    d = &ip[CTA_IP_V4_DST];
  } else if (ip[CTA_IP_V6_SRC].len == 16 && ip[CTA_IP_V6_DST].len == 16) {
    t->family = AF_INET6;
    s = &ip[CTA_IP_V6_SRC];
    d = &ip[CTA_IP_V6_DST];
  } else {
    return false;
  }
  std::memcpy(t->src, s->data, s->len);
  std::memcpy(t->dst, d->data, d->len);
  Attr pr[CTA_PROTO_MAX + 1];
  if (tb[CTA_TUPLE_PROTO].present() && parseAttrs(tb[CTA_TUPLE_PROTO].data, tb[CTA_TUPLE_PROTO].len, pr, CTA_PROTO_MAX, nullptr)) {
    (void)pr[CTA_PROTO_NUM].u8(&t->proto);
    t->ports = be16(pr[CTA_PROTO_SRC_PORT], &t->sport) && be16(pr[CTA_PROTO_DST_PORT], &t->dport);
  }
  return true;
}

bool same(const uint8_t* a, const uint8_t* b, int family) { return std::memcmp(a, b, addrLen(family)) == 0; }

bool matches(const CtFilterC& f, const Tuple& o, const Tuple& r) {
  if (o.family != f.family || r.family != f.family) return false;
  if (f.by == CtFilterC::Addr)
    return same(o.src, f.addr, f.family) || same(o.dst, f.addr, f.family) || same(r.src, f.addr, f.family) ||
           same(r.dst, f.addr, f.family);
  return o.proto == f.proto && o.ports && o.dport >= f.portLo && o.dport <= f.portHi &&
         (!f.hasDst || same(o.dst, f.dst, f.family)) && same(r.src, f.addr, f.family);
}

void header(MsgBuilder& b, uint16_t type, uint16_t flags, uint32_t seq, int family) {
  nfgenmsg g{};
  g.nfgen_family = static_cast<uint8_t>(family);
  g.version = NFNETLINK_V0;
  g.res_id = 0;
  b.begin(type, flags, seq, 0, &g, sizeof g);
}

// One IPCTNL_MSG_CT_NEW of the dump → a victim of the first filter that matches it.
void consider(const nlmsghdr* h, const std::vector<const CtFilterC*>& fs, std::vector<Victim>* out) {
  if (h->nlmsg_type != kCtNew) return;
  size_t alen;
  const uint8_t* p = msgPayload(h, sizeof(nfgenmsg), &alen);
  if (!p) return;
  Attr tb[CTA_MAX + 1];
  if (!parseAttrs(p, alen, tb, CTA_MAX, nullptr)) return;
  Tuple o, r;
  if (!parseTuple(tb[CTA_TUPLE_ORIG], &o) || !parseTuple(tb[CTA_TUPLE_REPLY], &r)) return;
  size_t which = 0;
  while (which < fs.size() && !matches(*fs[which], o, r)) which++;
  if (which == fs.size()) return;
  Victim v;
  v.filter = which;
  v.family = o.family;
  v.orig.assign(tb[CTA_TUPLE_ORIG].data, tb[CTA_TUPLE_ORIG].data + tb[CTA_TUPLE_ORIG].len);
  if (tb[CTA_ID].len == 4) {
    v.hasId = true;
    std::memcpy(&v.id, tb[CTA_ID].data, 4);
  }
  if (tb[CTA_ZONE].len == 2) {
    v.hasZone = true;
    std::memcpy(&v.zone, tb[CTA_ZONE].data, 2);
  }
  out->push_back(std::move(v));
}

// The table's entries that `fs` match: ONE dump (the kernel walks its whole conntrack hash
// table for each, ~2–3 ms here however few entries it holds), of both families when the
// filters are of both (nfgen_family AF_UNSPEC dumps every family).
KErr collect(NlSock* sock, const std::vector<const CtFilterC*>& fs, std::vector<Victim>* out) {
  int family = fs.empty() ? 0 : fs[0]->family;
  for (const CtFilterC* f : fs)
    if (f->family != family) family = AF_UNSPEC;
  MsgBuilder b;
  Waiter w;
  w.seq = sock->nextSeq();
  w.dump = true;
  w.op = "IPCTNL_MSG_CT_GET";
  w.onData = [&fs, out](const nlmsghdr* h) { consider(h, fs, out); };
  header(b, kCtGet, NLM_F_REQUEST | NLM_F_DUMP, w.seq, family);
  b.end();
  std::vector<Waiter*> ws{&w};
  KErr fatal;
  if (!sock->exchange(b.bytes().data(), b.size(), ws, &fatal)) return fatal;
  return w.err;
}

// Deletes victims [from, to) in one sendmsg; counts what went per filter, keeps the first
// real error per filter.
KErr deleteSome(NlSock* sock, const std::vector<Victim>& vs, size_t from, size_t to, std::vector<uint32_t>* deleted,
                std::vector<KErr>* first) {
  MsgBuilder b;
  std::vector<Waiter> ws(to - from);
  std::vector<Waiter*> wp;
  for (size_t k = from; k < to; k++) {
    const Victim& v = vs[k];
    Waiter& w = ws[k - from];
    w.seq = sock->nextSeq();
    w.op = "IPCTNL_MSG_CT_DELETE";
    wp.push_back(&w);
    header(b, kCtDelete, NLM_F_REQUEST | NLM_F_ACK, w.seq, v.family);
    size_t nest = b.nestStart(CTA_TUPLE_ORIG | NLA_F_NESTED);
    b.raw(v.orig.data(), v.orig.size());
    b.nestEnd(nest);
    if (v.hasId) b.put(CTA_ID, &v.id, 4);
    if (v.hasZone) b.put(CTA_ZONE, &v.zone, 2);
    b.end();
  }
  KErr fatal;
  if (!sock->exchange(b.bytes().data(), b.size(), wp, &fatal)) return fatal;
  for (size_t k = from; k < to; k++) {
    const Waiter& w = ws[k - from];
    size_t fi = vs[k].filter;
    if (!w.err) (*deleted)[fi]++;
    else if (w.err.err != ENOENT && !(*first)[fi]) (*first)[fi] = w.err;  // ENOENT: it ended meanwhile
  }
  return {};
}

}  // namespace

std::vector<KErr> ctDeleteMany(NlSock* sock, const std::vector<const CtFilterC*>& fs, std::vector<uint32_t>* deleted) {
  deleted->assign(fs.size(), 0);
  std::vector<KErr> errs(fs.size());
  std::vector<Victim> vs;
  if (KErr e = collect(sock, fs, &vs)) {
    errs.assign(fs.size(), e);
    return errs;
  }
  for (size_t k = 0; k < vs.size(); k += kDeletesPerSend) {
    size_t to = k + kDeletesPerSend < vs.size() ? k + kDeletesPerSend : vs.size();
    if (KErr e = deleteSome(sock, vs, k, to, deleted, &errs)) {
      for (KErr& x : errs)
        if (!x) x = e;
      return errs;
    }
  }
  return errs;
}

KErr ctDelete(NlSock* sock, const CtFilterC& f, uint32_t* deleted) {
  std::vector<uint32_t> n;
  std::vector<KErr> e = ctDeleteMany(sock, {&f}, &n);
  *deleted = n[0];
  return e[0];
}

}  // namespace ctn
