// Structured concurrency: cancelling a whole coroutine and what it started, and holding a
// cancel back. docs/cancel.md has the design; task_group and with_timeout are to come.
#pragma once

#include "xcoro/coro.hpp"
#include "xcoro/export.hpp"

namespace xcoro {

/// Requests that `f` stop, and with it, transitively, every unfinished coroutine it
/// started. From then on the blocking calls of those coroutines that honour cancellation
/// return at once with errc::canceled, including the one each is suspended in now (which
/// resumes later, through its loop or executor, never inside this call). Today these are
/// the aio operations and aio::sleep; channels, select and the sync primitives follow
/// (docs/cancel.md). The request is level-triggered: it stays until the coroutine finishes.
/// A coroutine suspended in a plain xsuspend is not woken, and code that never suspends is
/// never interrupted. Returns false if `f` is null, finished, or already cancelled.
/// Call it from any coroutine of f's thread, or from root.
XCORO_EXPORT bool cancel(frame f) noexcept;

/// Whether a cancel was requested for the running coroutine (also inside a
/// cancel_shield); false in root.
XCORO_EXPORT bool cancel_requested() noexcept;

/// Holds a cancel back: while one lives, the running coroutine's blocking calls behave as
/// if no cancel was requested, and a cancel that arrives does not interrupt the call it
/// waits in. The request is seen again at the first blocking call after the last shield of
/// the coroutine is gone. Shields nest. The coroutines it starts meanwhile are not born
/// cancelled, and a cancel stops at it rather than reaching the coroutines it started: they
/// are cancelled when its last shield ends, if still running. Create and destroy it in the
/// same coroutine; in root it does nothing.
class XCORO_EXPORT cancel_shield {
 public:
  cancel_shield() noexcept;
  ~cancel_shield();
  cancel_shield(const cancel_shield&) = delete;
  cancel_shield& operator=(const cancel_shield&) = delete;

 private:
  coro* c_;
};

}  // namespace xcoro
