// Tracing and diagnostics: a per-thread hook (and a process-wide default for threads without
// one) called on coroutine create, resume, suspend, finish, destroy and adopt, and a report
// of the coroutines that never finished.
#pragma once

#include <cstdint>
#include <cstdio>

#include "xcoro/coro.hpp"
#include "xcoro/export.hpp"

namespace xcoro {

// xcoro::trace_event (create, resume, suspend, finish, destroy, adopt) is declared with
// the coroutine record, in coro.hpp.

/// Called on the thread where the event happens: the one that runs the coroutine for
/// resume, suspend and finish (before the event takes effect: both coroutines are still
/// intact), the creating one for create, the destroying one for destroy, and the one that
/// takes a handed-off coroutine for adopt. Must not switch.
using trace_hook = void (*)(trace_event event, coro* subject, coro* other, void* user) noexcept;

/// Installs `hook` for this thread, called with `user`. nullptr removes this thread's own
/// hook: the thread goes back to the process-wide default (set_default_trace_hook), if any.
/// When no hook is set, the cost is one predicted branch per switch. Call it on the thread
/// it is for.
XCORO_EXPORT void set_trace_hook(trace_hook hook, void* user = nullptr) noexcept;

/// Installs `hook` (nullptr: none), called with `user`, as the process-wide default: the hook
/// of every thread that has none of its own. A thread takes the default when it starts
/// using coroutines (its first coroutine made or adopted: for a runtime's worker, before it
/// runs any) and when it calls set_trace_hook(nullptr); it keeps what it took. So install it
/// before runtime::create to trace every worker, and keep the hook and `user` valid until
/// the threads that took it are gone (for a runtime: until its destructor returned). The
/// hook is then called from several threads at once and must be safe for that. Any thread
/// may call this.
XCORO_EXPORT void set_default_trace_hook(trace_hook hook, void* user = nullptr) noexcept;

/// Writes one line per unfinished coroutine of this thread (id, name, status) to `out`;
/// returns how many there were.
XCORO_EXPORT std::size_t report_unfinished(std::FILE* out = stderr) noexcept;

/// When on, this thread reports its unfinished coroutines on stderr when it exits, and
/// so does every xcoro::executor destroyed on it. Off by default; the environment
/// variable XCORO_REPORT_UNFINISHED=1 turns it on for every thread.
XCORO_EXPORT void set_report_unfinished(bool on) noexcept;

}  // namespace xcoro
