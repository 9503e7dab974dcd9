// native/nft_elems.h — nftables set and map elements straight over nfnetlink, without
// libnftables (docs/ARCHITECTURE.md, "Kernel facts": libnftables fetches its cache of the
// ruleset before it changes an element, ~0.5 ms for an add and ~3 ms for an add+delete
// here; the messages themselves take ~20 µs).
//
// Layer: native/. Bytes only: the caller (src/firewall/elements.ts) encodes each key
// (and each map's data) as the kernel stores it — the components of a concatenation, each
// padded to 4 bytes — and names the family, table and set. One call is ONE nftables
// transaction (NFNL_MSG_BATCH_BEGIN … END): it all applies or none of it.
//
//   add     NFT_MSG_NEWSETELEM with NLM_F_CREATE (no NLM_F_EXCL): an identical element
//           already there is a no-op; a map key there with other data fails the batch
//   delete  the same NEWSETELEM, then NFT_MSG_DELSETELEM of the key, in the same batch:
//           exact and idempotent (an element already gone is not an error, and a map key
//           that now maps to someone else's data aborts the batch instead of being deleted)
//
// A missing table or set fails with ENOENT, op "nft", like the libnftables path.
#pragma once
#include "kerr.h"
#include "nl_sock.h"
#include "rtnl_types.h"

namespace ctn {

// Runs `ops` as one transaction on `sock` (a NETLINK_NETFILTER socket in the target netns).
KErr nftElems(NlSock* sock, const std::vector<NftElemOpC>& ops);

}  // namespace ctn
