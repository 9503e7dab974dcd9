// native/js_conv.cc — see js_conv.h.
#include "js_conv.h"

#include <cmath>

#include "js_fields.h"
#include "kerr.h"

namespace ctn {

namespace {

bool getLinkRef(const Napi::Object& o, const char* k, LinkRefC* out, std::string* bad, bool allowZero = false) {
  if (!has(o, k)) return false;
  Napi::Value v = o.Get(k);
  out->set = true;
  if (v.IsString()) {
    out->byName = true;
    out->name = v.As<Napi::String>().Utf8Value();
    return true;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::floor(d) == d && d >= (allowZero ? 0 : 1) && d <= 2147483647.0) {
      out->index = static_cast<int>(d);
      return true;
    }
  }
  if (bad->empty()) *bad = std::string("field '") + k + "' must be an ifindex (positive integer) or a link name";
  return false;
}

bool nsFromJs(const Napi::Value& v, NsRefC* out, std::string* bad, const char* what) {
  if (!v.IsObject()) {
    *bad = std::string(what) + " must be a netns reference object ({self}|{path}|{slot}|{fd})";
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  std::string b;
  int64_t n;
  if (has(o, "self") && o.Get("self").IsBoolean() && o.Get("self").As<Napi::Boolean>().Value()) {
    out->kind = NsRefC::Self;
    return true;
  }
  if (getStr(o, "path", &out->path, &b)) {
    out->kind = NsRefC::Path;
    return true;
  }
  if (getInt(o, "slot", 0, 1e6, &n, &b)) {
    out->kind = NsRefC::Slot;
    out->n = static_cast<int>(n);
    return true;
  }
  if (getInt(o, "fd", 0, 2147483647.0, &n, &b)) {
    out->kind = NsRefC::Fd;
    out->n = static_cast<int>(n);
    return true;
  }
  *bad = std::string(what) + " must be {self: true}, {path: string}, {slot: n} or {fd: n}" + (b.empty() ? "" : " (" + b + ")");
  return false;
}

void setOpt(Napi::Object& o, const char* k, const std::optional<std::string>& v) {
  if (v) o.Set(k, *v);
}
void setOptU(Napi::Object& o, const char* k, const std::optional<uint32_t>& v) {
  if (v) o.Set(k, static_cast<double>(*v));
}
void setOptI(Napi::Object& o, const char* k, const std::optional<int32_t>& v) {
  if (v) o.Set(k, static_cast<double>(*v));
}

// netnsDelete's optional identity: `cookie` (decimal u64 string), `inode` (nsfs inode number).
void netnsIdentityFromJs(const Napi::Object& so, StepC* s) {
  std::string c;
  if (getStr(so, "cookie", &c, &s->bad)) {
    uint64_t v;
    if (parseU64Dec(c, &v)) s->cookie = v;
    else if (s->bad.empty()) s->bad = "netnsDelete: 'cookie' must be a netns cookie as a decimal string (0..18446744073709551615), not '" + c.substr(0, 40) + "'";
  }
  int64_t ino;
  if (getInt(so, "inode", 1, 9007199254740991.0, &ino, &s->bad)) s->inode = static_cast<uint64_t>(ino);
}

}  // namespace

OpC opFromJs(const Napi::Value& v) {
  OpC op;
  std::string& bad = op.bad;
  if (!v.IsObject()) {
    bad = "op must be an object";
    return op;
  }
  Napi::Object o = v.As<Napi::Object>();
  std::string name;
  if (!getStr(o, "op", &name, &bad)) {
    if (bad.empty()) bad = "op has no 'op' field";
    return op;
  }
  int64_t n;
  if (name == "linkAdd") {
    op.type = OpType::LinkAdd;
    getStr(o, "kind", &op.kind, &bad);
    getStr(o, "name", &op.name, &bad);
    if (getInt(o, "index", 0, 2147483647.0, &n, &bad)) op.index = static_cast<int>(n);
    getU32(o, "mtu", &op.mtu, &bad);
    getStr(o, "mac", &op.mac, &bad);
    getBool(o, "up", &op.up, &bad);
    getLinkRef(o, "master", &op.master, &bad);
    std::string s;
    if (getStr(o, "alias", &s, &bad)) op.alias = s;
    getBool(o, "hairpin", &op.hairpin, &bad);
    getU32(o, "txqlen", &op.txqlen, &bad);
    getFlag(o, "noIpv6LinkLocal", &op.noIpv6LinkLocal, &bad);
    if (has(o, "peer")) {
      Napi::Value pv = o.Get("peer");
      if (!pv.IsObject()) {
        if (bad.empty()) bad = "field 'peer' must be an object";
      } else {
        Napi::Object po = pv.As<Napi::Object>();
        PeerC p;
        if (!getStr(po, "name", &p.name, &bad) && bad.empty()) bad = "peer needs a name";
        if (has(po, "ns")) {
          NsRefC ns;
          std::string b;
          if (nsFromJs(po.Get("ns"), &ns, &b, "peer.ns")) p.ns = ns;
          else if (bad.empty()) bad = b;
        }
        if (getInt(po, "index", 0, 2147483647.0, &n, &bad)) p.index = static_cast<int>(n);
        getU32(po, "mtu", &p.mtu, &bad);
        getStr(po, "mac", &p.mac, &bad);
        if (getStr(po, "alias", &s, &bad)) p.alias = s;
        getFlag(po, "noIpv6LinkLocal", &p.noIpv6LinkLocal, &bad);
        op.peer = p;
      }
    }
    if (has(o, "bridge")) {
      Napi::Value bv = o.Get("bridge");
      if (!bv.IsObject()) {
        if (bad.empty()) bad = "field 'bridge' must be an object";
      } else {
        Napi::Object bo = bv.As<Napi::Object>();
        getU32(bo, "forwardDelay", &op.brForwardDelay, &bad);
        getBool(bo, "stp", &op.brStp, &bad);
        getBool(bo, "mcastSnooping", &op.brMcastSnooping, &bad);
        getBool(bo, "vlanFiltering", &op.brVlanFiltering, &bad);
      }
    }
  } else if (name == "linkSet") {
    op.type = OpType::LinkSet;
    getLinkRef(o, "link", &op.link, &bad);
    getBool(o, "up", &op.up, &bad);
    if (getLinkRef(o, "master", &op.master, &bad, true) && !op.master.byName && op.master.index == 0) op.noMaster = true;
    if (has(o, "ns")) {
      NsRefC ns;
      std::string b;
      if (nsFromJs(o.Get("ns"), &ns, &b, "ns")) op.ns = ns;
      else if (bad.empty()) bad = b;
    }
    getU32(o, "mtu", &op.mtu, &bad);
    getStr(o, "name", &op.newName, &bad);
    getStr(o, "mac", &op.mac, &bad);
    std::string s;
    if (getStr(o, "alias", &s, &bad)) op.alias = s;
    getBool(o, "hairpin", &op.hairpin, &bad);
    getBool(o, "promisc", &op.promisc, &bad);
    getFlag(o, "noIpv6LinkLocal", &op.noIpv6LinkLocal, &bad);
  } else if (name == "linkDel" || name == "linkGet") {
    op.type = name == "linkDel" ? OpType::LinkDel : OpType::LinkGet;
    getLinkRef(o, "link", &op.link, &bad);
  } else if (name == "linkList") {
    op.type = OpType::LinkList;
  } else if (name == "addrAdd" || name == "addrDel") {
    op.type = name == "addrAdd" ? OpType::AddrAdd : OpType::AddrDel;
    getLinkRef(o, "link", &op.link, &bad);
    if (getInt(o, "family", 4, 6, &n, &bad)) op.family = static_cast<int>(n);
    getStr(o, "local", &op.local, &bad);
    if (getInt(o, "prefixLen", 0, 128, &n, &bad)) op.prefixLen = static_cast<int>(n);
    else if (bad.empty()) bad = "field 'prefixLen' is required";
    getStr(o, "broadcast", &op.broadcast, &bad);
    getFlag(o, "nodad", &op.nodad, &bad);
  } else if (name == "addrList") {
    op.type = OpType::AddrList;
    if (getInt(o, "family", 4, 6, &n, &bad)) op.family = static_cast<int>(n);
    getLinkRef(o, "link", &op.link, &bad);
  } else if (name == "routeAdd" || name == "routeDel") {
    op.type = name == "routeAdd" ? OpType::RouteAdd : OpType::RouteDel;
    if (getInt(o, "family", 4, 6, &n, &bad)) op.family = static_cast<int>(n);
    getStr(o, "dst", &op.dst, &bad);
    if (getInt(o, "dstLen", 0, 128, &n, &bad)) op.dstLen = static_cast<int>(n);
    getStr(o, "gateway", &op.gateway, &bad);
    getLinkRef(o, "link", &op.link, &bad);
    getU32(o, "metric", &op.metric, &bad);
    getU32(o, "table", &op.table, &bad);
    getFlag(o, "onlink", &op.onlink, &bad);
    getStr(o, "src", &op.src, &bad);
  } else if (name == "routeList") {
    op.type = OpType::RouteList;
    if (getInt(o, "family", 4, 6, &n, &bad)) op.family = static_cast<int>(n);
    getU32(o, "table", &op.table, &bad);
  } else {
    bad = "unknown op '" + name + "'";
  }
  return op;
}

PlanC planFromJs(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, "plan must be an object with a 'steps' array");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value sv = o.Get("steps");
  if (!sv.IsArray()) throw Napi::TypeError::New(env, "plan.steps must be an array");
  PlanC plan;
  Napi::Value soe = o.Get("stopOnError");
  if (soe.IsBoolean()) plan.stopOnError = soe.As<Napi::Boolean>().Value();
  else if (!soe.IsUndefined()) throw Napi::TypeError::New(env, "plan.stopOnError must be a boolean");
  Napi::Array steps = sv.As<Napi::Array>();
  for (uint32_t i = 0; i < steps.Length(); i++) {
    Napi::Value st = steps.Get(i);
    StepC s;
    if (!st.IsObject()) {
      s.bad = "step " + std::to_string(i) + " must be an object";
      plan.steps.push_back(std::move(s));
      continue;
    }
    Napi::Object so = st.As<Napi::Object>();
    std::string kind;
    getStr(so, "kind", &kind, &s.bad);
    auto needNs = [&]() {
      if (!nsFromJs(so.Get("ns"), &s.ns, &s.bad, "ns")) return false;
      return true;
    };
    if (kind == "netnsCreate" || kind == "netnsOpen" || kind == "netnsDelete") {
      s.kind = kind == "netnsCreate" ? StepKind::NetnsCreate : kind == "netnsOpen" ? StepKind::NetnsOpen : StepKind::NetnsDelete;
      if (!getStr(so, "path", &s.path, &s.bad) && s.bad.empty()) s.bad = kind + " needs a path";
      else if (s.path.empty() && s.bad.empty()) s.bad = kind + ": empty path";
      else if (s.path.find('\0') != std::string::npos) s.bad = kind + ": path contains NUL";
      if (kind == "netnsCreate" && so.Has("from") && !so.Get("from").IsUndefined()) {
        if (!getStr(so, "from", &s.from, &s.bad) && s.bad.empty()) s.bad = "netnsCreate: 'from' must be a path";
        else if ((s.from.empty() || s.from.find('\0') != std::string::npos) && s.bad.empty()) s.bad = "netnsCreate: bad 'from' path";
      }
      if (kind == "netnsDelete") netnsIdentityFromJs(so, &s);
    } else if (kind == "rtnl") {
      s.kind = StepKind::Rtnl;
      needNs();
      Napi::Value ov = so.Get("ops");
      if (!ov.IsArray()) {
        if (s.bad.empty()) s.bad = "rtnl step needs an 'ops' array";
      } else {
        Napi::Array ops = ov.As<Napi::Array>();
        for (uint32_t k = 0; k < ops.Length(); k++) s.ops.push_back(opFromJs(ops.Get(k)));
      }
    } else if (kind == "sysctl") {
      s.kind = StepKind::Sysctl;
      needNs();
      if (!getStr(so, "key", &s.key, &s.bad) && s.bad.empty()) s.bad = "sysctl step needs a key";
      std::string val;
      if (getStr(so, "value", &val, &s.bad)) s.value = val;
    } else if (kind == "nft") {
      s.kind = StepKind::Nft;
      needNs();
      if (!getStr(so, "json", &s.json, &s.bad) && s.bad.empty()) s.bad = "nft step needs a json string";
      if (has(so, "elems")) {
        std::string b;
        if (!nftElemsFromJs(so.Get("elems"), &s.elems, &b) && s.bad.empty()) s.bad = b;
      }
    } else if (kind == "conntrackDelete") {
      s.kind = StepKind::ConntrackDelete;
      needNs();
      std::string b;
      if (!ctFilterFromJs(so.Get("filter"), &s.ct, &b) && s.bad.empty()) s.bad = b;
    } else {
      s.kind = StepKind::Rtnl;
      if (s.bad.empty()) s.bad = "unknown step kind '" + kind + "'";
    }
    plan.steps.push_back(std::move(s));
  }
  return plan;
}

Napi::Value kerrToJs(Napi::Env env, const KErr& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("errno", e.err);
  o.Set("code", errnoName(e.err));
  o.Set("op", e.op);
  if (!e.msg.empty()) o.Set("message", e.msg);
  return o;
}

Napi::Value linkToJs(Napi::Env env, const LinkC& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", l.index);
  o.Set("name", l.name);
  setOpt(o, "kind", l.kind);
  o.Set("mtu", static_cast<double>(l.mtu));
  setOpt(o, "mac", l.mac);
  o.Set("up", l.up);
  o.Set("operState", l.operState);
  o.Set("flags", static_cast<double>(l.flags));
  setOptU(o, "master", l.master);
  setOpt(o, "alias", l.alias);
  setOptI(o, "link", l.link);
  setOptI(o, "linkNetnsId", l.linkNetnsId);
  setOptU(o, "txqlen", l.txqlen);
  return o;
}

Napi::Value addrToJs(Napi::Env env, const AddrC& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", a.index);
  o.Set("family", a.family);
  o.Set("local", a.local);
  o.Set("prefixLen", a.prefixLen);
  o.Set("scope", a.scope);
  o.Set("flags", static_cast<double>(a.flags));
  setOpt(o, "label", a.label);
  setOpt(o, "broadcast", a.broadcast);
  return o;
}

Napi::Value routeToJs(Napi::Env env, const RouteC& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", r.family);
  setOpt(o, "dst", r.dst);
  o.Set("dstLen", r.dstLen);
  setOpt(o, "gateway", r.gateway);
  setOptU(o, "oif", r.oif);
  o.Set("table", static_cast<double>(r.table));
  setOptU(o, "metric", r.metric);
  o.Set("protocol", r.protocol);
  o.Set("scope", r.scope);
  o.Set("type", r.type);
  setOpt(o, "prefsrc", r.prefsrc);
  o.Set("flags", static_cast<double>(r.flags));
  return o;
}

namespace {
Napi::Value opResultToJs(Napi::Env env, const OpResultC& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", r.ok);
  if (!r.ok) {
    o.Set("error", kerrToJs(env, r.err));
    return o;
  }
  switch (r.vk) {
    case OpResultC::V::None: break;
    case OpResultC::V::Link:
      if (!r.links.empty()) o.Set("value", linkToJs(env, r.links[0]));
      break;
    case OpResultC::V::Links: {
      Napi::Array a = Napi::Array::New(env, r.links.size());
      for (size_t i = 0; i < r.links.size(); i++) a.Set(static_cast<uint32_t>(i), linkToJs(env, r.links[i]));
      o.Set("value", a);
      break;
    }
    case OpResultC::V::Addrs: {
      Napi::Array a = Napi::Array::New(env, r.addrs.size());
      for (size_t i = 0; i < r.addrs.size(); i++) a.Set(static_cast<uint32_t>(i), addrToJs(env, r.addrs[i]));
      o.Set("value", a);
      break;
    }
    case OpResultC::V::Routes: {
      Napi::Array a = Napi::Array::New(env, r.routes.size());
      for (size_t i = 0; i < r.routes.size(); i++) a.Set(static_cast<uint32_t>(i), routeToJs(env, r.routes[i]));
      o.Set("value", a);
      break;
    }
  }
  return o;
}
}  // namespace

Napi::Value stepResultsToJs(Napi::Env env, const std::vector<StepResultC>& rs) {
  Napi::Array out = Napi::Array::New(env, rs.size());
  for (size_t i = 0; i < rs.size(); i++) {
    const StepResultC& r = rs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("ok", r.st == StepResultC::St::Ok);
    o.Set("kind", stepKindName(r.kind));
    if (r.st == StepResultC::St::Skipped) {
      o.Set("skipped", true);
    } else {
      if (r.st == StepResultC::St::Failed) {
        o.Set("error", kerrToJs(env, r.err));
        if (r.failedOp >= 0) o.Set("failedOp", r.failedOp);
      }
      if (r.hasOps) {
        Napi::Array ops = Napi::Array::New(env, r.ops.size());
        for (size_t k = 0; k < r.ops.size(); k++) ops.Set(static_cast<uint32_t>(k), opResultToJs(env, r.ops[k]));
        o.Set("ops", ops);
      }
      if (r.value && r.st == StepResultC::St::Ok) o.Set("value", *r.value);
      if (r.deleted && r.st == StepResultC::St::Ok) o.Set("deleted", static_cast<double>(*r.deleted));
      if (r.cookie && r.st == StepResultC::St::Ok) o.Set("cookie", std::to_string(*r.cookie));
      if (r.inode && r.st == StepResultC::St::Ok) o.Set("inode", static_cast<double>(*r.inode));
    }
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

}  // namespace ctn
