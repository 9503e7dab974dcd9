// native/fifo.h — `mkfifo(path, mode)`: create a named pipe (Node has no API for it). Used by
// the CLI daemon (src/cli/daemon.ts) for its synchronous request/answer channels.
//
// Layer: native/. One syscall; no names chosen, no policy.
#pragma once
#include <napi.h>

// Adds `mkfifo` to the addon's exports. Call once from the module's Init.
void RegisterFifo(Napi::Env env, Napi::Object exports);
