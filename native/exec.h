// native/exec.h — `execInNetns(nsPath, file, argv)`: enter a network namespace and replace
// the whole process with a command, like `nsenter --net=PATH CMD` without the nsenter
// process (used by `ctnet-fast exec`).
//
// Layer: native/. Syscalls only (open, setns, execvp); no names chosen, no policy.
#pragma once
#include <napi.h>

// Adds `execInNetns` to the addon's exports. Call once from the module's Init.
void RegisterExec(Napi::Env env, Napi::Object exports);
