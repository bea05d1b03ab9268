// Waiting for channels, sync primitives and coroutine completion: a waiter on the waiting
// coroutine's stack, its entries in intrusive FIFO wait queues, and signalling through the
// executor. See docs/executor.md ("Waiting without stale records").
#pragma once

#include <cstddef>

#include "xcoro/coro.hpp"
#include "xcoro/detail/wait_list.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/export.hpp"

namespace xcoro::detail {

/// The waiting coroutine's side: how to wake it, and whether it was.
struct XCORO_EXPORT waiter {
  /// `ex` queues the wake-up; `call` names the operation in abort messages. Aborts if
  /// called from root (nothing could ever resume it) or if `ex` is null.
  waiter(executor* ex, const char* call) noexcept;
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;
  /// Cancels a wake-up still queued on the executor.
  ~waiter();

  /// Suspends until signalled; wake-ups by anything else suspend again. Inline: every call
  /// level between a coroutine's code and its switch costs a mispredicted return after
  /// each resume.
  void wait() {
    while (!signalled) {
      xsuspend();
    }
  }

  executor::func wake;
  executor* ex;
  coro* c;
  const char* call;  // the blocking call, for messages
  int fired = -1;    // index of the entry that signalled
  bool signalled = false;
};

/// The executor function of every waiter: resumes its coroutine. executor::tick()
/// recognises it and resumes inline.
XCORO_EXPORT void resume_waiter(void* w);

/// Unlinks `e`, marks its owner signalled by it, and queues the owner's wake-up.
XCORO_EXPORT void signal(wait_entry& e) noexcept;
/// Signals the first ready entry of `q`; returns it, or nullptr if none.
XCORO_EXPORT wait_entry* signal_one(wait_queue& q) noexcept;
/// Signals every entry of `q`.
XCORO_EXPORT void signal_all(wait_queue& q) noexcept;

}  // namespace xcoro::detail
