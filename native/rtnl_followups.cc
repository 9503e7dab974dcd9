// native/rtnl_followups.cc — see rtnl_followups.h.
#include "rtnl_followups.h"

namespace ctn {

namespace {

OpC setByName(const std::string& name) {
  OpC s;
  s.type = OpType::LinkSet;
  s.link.set = true;
  s.link.byName = true;
  s.link.name = name;
  return s;
}

}  // namespace

std::vector<OpC> followUps(const OpC& add, bool peerSide) {
  std::vector<OpC> out;
  if (add.type != OpType::LinkAdd) return out;
  if (peerSide) {
    if (!add.peer) return out;
    if (add.peer->alias || add.peer->noIpv6LinkLocal) {
      OpC s = setByName(add.peer->name);
      s.alias = add.peer->alias;
      s.noIpv6LinkLocal = add.peer->noIpv6LinkLocal;
      out.push_back(std::move(s));
    }
    return out;
  }
  if (add.alias || add.noIpv6LinkLocal || add.hairpin) {
    OpC s = setByName(add.name);
    s.alias = add.alias;
    s.noIpv6LinkLocal = add.noIpv6LinkLocal;
    s.hairpin = add.hairpin;  // bridge port option: the link is enslaved by the create
    out.push_back(std::move(s));
  }
  if (add.noIpv6LinkLocal && add.up.value_or(false)) {
    OpC s = setByName(add.name);
    s.up = true;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<OpC> followUpsHere(const OpC& add) {
  std::vector<OpC> out = followUps(add, false);
  if (add.peer && !add.peer->ns) {
    std::vector<OpC> peer = followUps(add, true);
    out.insert(out.end(), peer.begin(), peer.end());
  }
  return out;
}

}  // namespace ctn
