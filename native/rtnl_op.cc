// native/rtnl_op.cc — see rtnl_op.h.
#include "rtnl_op.h"

namespace ctn {

const char* opName(OpType t) {
  switch (t) {
    case OpType::LinkAdd: case OpType::LinkSet: return "RTM_NEWLINK";
    case OpType::LinkDel: return "RTM_DELLINK";
    case OpType::LinkGet: case OpType::LinkList: return "RTM_GETLINK";
    case OpType::AddrAdd: return "RTM_NEWADDR";
    case OpType::AddrDel: return "RTM_DELADDR";
    case OpType::AddrList: return "RTM_GETADDR";
    case OpType::RouteAdd: return "RTM_NEWROUTE";
    case OpType::RouteDel: return "RTM_DELROUTE";
    case OpType::RouteList: return "RTM_GETROUTE";
  }
  return "RTM_?";
}

bool isDumpOp(const OpC& op) {
  return op.type == OpType::LinkList || op.type == OpType::AddrList || op.type == OpType::RouteList;
}

std::vector<std::string> namesNeeded(const OpC& op) {
  std::vector<std::string> v;
  switch (op.type) {
    case OpType::LinkAdd:
      if (op.master.set && op.master.byName) v.push_back(op.master.name);
      break;
    case OpType::LinkSet:
      if (op.master.set && op.master.byName) v.push_back(op.master.name);
      if (op.link.byName && !op.newName.empty()) v.push_back(op.link.name);
      break;
    case OpType::AddrAdd: case OpType::AddrDel: case OpType::AddrList:
    case OpType::RouteAdd: case OpType::RouteDel:
      if (op.link.set && op.link.byName) v.push_back(op.link.name);
      break;
    default: break;
  }
  return v;
}

std::vector<std::string> namesProduced(const OpC& op) {
  std::vector<std::string> v;
  if (op.type == OpType::LinkAdd) {
    v.push_back(op.name);
    if (op.peer && !op.peer->ns) v.push_back(op.peer->name);
  } else if (op.type == OpType::LinkSet && !op.newName.empty()) {
    v.push_back(op.newName);
  }
  return v;
}

}  // namespace ctn
