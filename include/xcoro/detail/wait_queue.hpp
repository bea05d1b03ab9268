// Waiting for channels, sync primitives and coroutine completion: a waiter on the waiting
// coroutine's stack, its entries in intrusive FIFO wait queues, and signalling through the
// executor. See docs/executor.md ("Waiting without stale records").
#pragma once

#include <cstddef>

#include "xcoro/executor.hpp"
#include "xcoro/export.hpp"

namespace xcoro {
class coro;
}

namespace xcoro::detail {

struct waiter;
struct wait_queue;

/// One place a waiter waits: a link in one wait_queue. Lives on the waiting coroutine's
/// stack and unlinks itself when destroyed.
struct XCORO_EXPORT wait_entry {
  explicit wait_entry(waiter& w, int idx = 0) noexcept : owner(&w), index(idx) {}
  wait_entry(const wait_entry&) = delete;
  wait_entry& operator=(const wait_entry&) = delete;
  ~wait_entry();

  waiter* owner;
  int index;                    // which case of a select, or 0
  void* slot = nullptr;         // rendezvous: the value offered or the place to put one
  wait_queue* queue = nullptr;  // the queue it is linked in, or nullptr
  wait_queue* home = nullptr;   // the queue it was last pushed to
  wait_entry* prev = nullptr;
  wait_entry* next = nullptr;
  bool pending = false;         // signalled through `home`, not yet back from the wait
};

/// An intrusive FIFO of wait entries.
struct XCORO_EXPORT wait_queue {
  wait_entry* head = nullptr;
  wait_entry* tail = nullptr;
  std::size_t pending = 0;  // entries signalled from here whose waiters have not returned

  bool empty() const noexcept { return head == nullptr; }
  /// True if nothing waits here and no signalled waiter is still on its way back.
  bool idle() const noexcept { return head == nullptr && pending == 0; }
  void push_back(wait_entry& e) noexcept;
  void remove(wait_entry& e) noexcept;
  /// The first entry whose owner has not been signalled through another queue yet. Entries
  /// of owners that were (a select that fired elsewhere) are unlinked on the way.
  wait_entry* first_ready() noexcept;
};

/// The waiting coroutine's side: how to wake it, and whether it was.
struct XCORO_EXPORT waiter {
  /// `ex` queues the wake-up; `call` names the operation in abort messages. Aborts if
  /// called from root (nothing could ever resume it) or if `ex` is null.
  waiter(executor* ex, const char* call) noexcept;
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;
  /// Cancels a wake-up still queued on the executor.
  ~waiter();

  /// Suspends until signalled; wake-ups by anything else suspend again. Inline (in
  /// coro.hpp): every call level between a coroutine's code and its switch costs a
  /// mispredicted return after each resume.
  inline void wait();

  executor::func wake;
  executor* ex;
  coro* c;
  int fired = -1;  // index of the entry that signalled
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
