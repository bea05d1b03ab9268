// Tracing and diagnostics: a per-thread hook called on coroutine create, resume, suspend,
// finish and destroy, and a report of the coroutines that never finished.
#pragma once

#include <cstdint>
#include <cstdio>

#include "xcoro/coro.hpp"
#include "xcoro/export.hpp"

namespace xcoro {

// xcoro::trace_event (create, resume, suspend, finish, destroy) is declared with the
// coroutine record, in coro.hpp.

/// Called on the thread that runs the coroutine, before the event takes effect for
/// resume, suspend and finish (both coroutines are still intact). Must not switch.
using trace_hook = void (*)(trace_event event, coro* subject, coro* other, void* user) noexcept;

/// Installs `hook` (nullptr: none) for this thread. When no hook is set, the cost is one
/// predicted branch per switch.
XCORO_EXPORT void set_trace_hook(trace_hook hook, void* user = nullptr) noexcept;

/// Writes one line per unfinished coroutine of this thread (id, name, status) to `out`;
/// returns how many there were.
XCORO_EXPORT std::size_t report_unfinished(std::FILE* out = stderr) noexcept;

/// When on, this thread reports its unfinished coroutines on stderr when it exits, and
/// so does every xcoro::executor destroyed on it. Off by default; the environment
/// variable XCORO_REPORT_UNFINISHED=1 turns it on for every thread.
XCORO_EXPORT void set_report_unfinished(bool on) noexcept;

}  // namespace xcoro
