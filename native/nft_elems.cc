// native/nft_elems.cc — see nft_elems.h. Message layout (linux/netfilter/nf_tables.h):
//
//   NFNL_MSG_BATCH_BEGIN   nfgenmsg { AF_UNSPEC, NFNETLINK_V0, res_id = NFNL_SUBSYS_NFTABLES (be16) }
//   NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM   nfgenmsg { family of the table }
//     NFTA_SET_ELEM_LIST_TABLE  string
//     NFTA_SET_ELEM_LIST_SET    string
//     NFTA_SET_ELEM_LIST_ELEMENTS (nested)
//       NFTA_LIST_ELEM (nested), one per element
//         NFTA_SET_ELEM_KEY (nested)  NFTA_DATA_VALUE  the key bytes
//         NFTA_SET_ELEM_DATA (nested) NFTA_DATA_VALUE  a map's data (NEWSETELEM only)
//   NFNL_MSG_BATCH_END
//
// Every element message asks for an ACK. The kernel answers each message of the batch; when
// one fails the whole transaction is aborted (the others may still be ACKed with 0), so the
// first error is the batch's.
#include "nft_elems.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstring>

#include "nl_msg.h"

namespace ctn {

namespace {

// Elements per message: well under the kernel's and our socket buffers' limits.
constexpr size_t kElemsPerMsg = 256;

void nfHeader(MsgBuilder& b, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family, uint16_t resId) {
  nfgenmsg g{};
  g.nfgen_family = family;
  g.version = NFNETLINK_V0;
  g.res_id = htons(resId);
  b.begin(type, flags, seq, 0, &g, sizeof g);
}

void putValue(MsgBuilder& b, uint16_t type, const std::vector<uint8_t>& v) {
  size_t n = b.nestStart(type | NLA_F_NESTED);
  b.put(NFTA_DATA_VALUE, v.data(), v.size());
  b.nestEnd(n);
}

const char* familyName(uint8_t f) {
  switch (f) {
    case NFPROTO_IPV4: return "ip";
    case NFPROTO_IPV6: return "ip6";
    case NFPROTO_BRIDGE: return "bridge";
    case NFPROTO_INET: return "inet";
    default: return "?";
  }
}

// One element message for keys [from, to) of `op`.
void elemMsg(MsgBuilder& b, Waiter* w, bool del, const NftElemOpC& op, size_t from, size_t to) {
  uint16_t msg = del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM;
  uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (del ? 0 : NLM_F_CREATE);
  nfHeader(b, static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg), flags, w->seq, op.family, 0);
  b.putStrz(NFTA_SET_ELEM_LIST_TABLE, op.table);
  b.putStrz(NFTA_SET_ELEM_LIST_SET, op.set);
  size_t list = b.nestStart(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED);
  for (size_t k = from; k < to; k++) {
    size_t el = b.nestStart(NFTA_LIST_ELEM | NLA_F_NESTED);
    putValue(b, NFTA_SET_ELEM_KEY, op.keys[k]);
    if (!del && k < op.data.size()) putValue(b, NFTA_SET_ELEM_DATA, op.data[k]);
    b.nestEnd(el);
  }
  b.nestEnd(list);
  b.end();
  w->op = std::string(del ? "delete" : "add") + " element " + familyName(op.family) + " " + op.table + " " + op.set;
}

}  // namespace

KErr nftElems(NlSock* sock, const std::vector<NftElemOpC>& ops) {
  MsgBuilder b;
  std::vector<Waiter> ws;
  // Sizes first: the waiters must not move once their pointers are taken.
  size_t msgs = 0;
  for (const NftElemOpC& op : ops) {
    if (!op.data.empty() && op.data.size() != op.keys.size()) return invalErr("nft", "map data and keys differ in number");
    size_t per = (op.keys.size() + kElemsPerMsg - 1) / kElemsPerMsg;
    msgs += op.del ? 2 * per : per;
  }
  if (msgs == 0) return {};
  ws.resize(msgs);
  nfHeader(b, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, sock->nextSeq(), AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  b.end();
  size_t m = 0;
  // Every add first (a delete's add included), then every delete: an element that one op
  // deletes and a later one adds back must not be left deleted.
  for (int pass = 0; pass < 2; pass++) {
    for (const NftElemOpC& op : ops) {
      if (pass == 1 && !op.del) continue;
      for (size_t k = 0; k < op.keys.size(); k += kElemsPerMsg) {
        Waiter& w = ws[m++];
        w.seq = sock->nextSeq();
        w.keepAck = true;
        elemMsg(b, &w, pass == 1, op, k, k + kElemsPerMsg < op.keys.size() ? k + kElemsPerMsg : op.keys.size());
      }
    }
  }
  nfHeader(b, NFNL_MSG_BATCH_END, NLM_F_REQUEST, sock->nextSeq(), AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  b.end();
  std::vector<Waiter*> wp;
  for (Waiter& w : ws) wp.push_back(&w);
  KErr fatal;
  if (!sock->exchange(b.bytes().data(), b.size(), wp, &fatal)) return fatal;
  for (const Waiter& w : ws) {
    if (w.err) {
      KErr e = w.err;
      e.op = "nft";
      e.msg = w.op + ": " + (e.msg.empty() ? std::string(std::strerror(e.err)) : e.msg);
      return e;
    }
  }
  return {};
}

}  // namespace ctn
