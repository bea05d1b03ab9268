// What a blocking call leaves in the coroutine record while the coroutine waits in it: a
// function table for that kind of wait and the wait's own context (a waiter, an IO
// operation). Everything that must act on a waiting coroutine from outside (aio::cancel,
// frame teardown, and whole-coroutine cancellation and deadlines, docs/cancel.md) goes
// through it, so the record knows nothing of aio, channels or the executor.
#pragma once

namespace xcoro::detail {

/// One static instance per kind of wait.
struct wait_kind {
  /// Ends the wait early, unless it was already satisfied; the waiting coroutine is then
  /// resumed later from the loop or the executor, never inside the caller. nullptr: this
  /// kind cannot be withdrawn yet.
  void (*withdraw)(void* ctx) noexcept;
  /// The public call the coroutine waits in ("channel::recv", "aio::sleep"), for messages.
  const char* (*call)(const void* ctx) noexcept;
};

}  // namespace xcoro::detail
