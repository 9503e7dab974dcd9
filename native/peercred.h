// native/peercred.h — `peerCred(fd)`: the kernel's credentials of the other end of a connected
// unix socket (getsockopt SO_PEERCRED; Node has no API for it). Used by the CLI daemon
// (src/cli/daemon/peer.ts) to know who is asking from the kernel rather than from the request.
//
// Layer: native/. One syscall; no names chosen, no policy.
#pragma once
#include <napi.h>

// Adds `peerCred` to the addon's exports. Call once from the module's Init.
void RegisterPeerCred(Napi::Env env, Napi::Object exports);
