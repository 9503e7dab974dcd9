// native/kill_hook.h — a test hook for the crash suite: SIGKILL this process at plan step N.
//
// Layer: native/. Inert unless the environment, read once when the addon loads, says
// CTNET_TEST_KILL_AT_STEP=N (die just before the N-th step this process executes, counted
// across all its plans from 1) or CTNET_TEST_KILL_AFTER_STEP=N (die just after it: before the
// next step, or before the plan's results go back to JS). Skipped steps are not counted.
// It exists only so the crash tests (issue 10) can sweep N over every step of a whole CLI
// command; nothing else may set these variables.
#pragma once
#include <cstdint>

namespace ctn {

// Reads the two variables (first call only; later calls do nothing).
void killHookInit();
// Called before each executed step: numbers it (1, 2, …) and dies when it is the AT step.
uint64_t killHookBefore();
// Called after step `n` finished: dies when it is the AFTER step.
void killHookAfter(uint64_t n);

}  // namespace ctn
