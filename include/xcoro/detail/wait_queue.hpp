// Waiting for channels, sync primitives and coroutine completion: a waiter on the waiting
// coroutine's stack, its entries in intrusive FIFO wait queues, and signalling through the
// executor. See docs/executor.md ("Waiting without stale records").
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <system_error>

#include "xcoro/coro.hpp"
#include "xcoro/detail/deadline.hpp"
#include "xcoro/detail/wait_list.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/export.hpp"

#if defined(__GNUC__)
#define XCORO_WAIT_INLINE [[gnu::always_inline]] inline
#else
#define XCORO_WAIT_INLINE inline
#endif

namespace xcoro::detail {

/// Tag for a waiter that cancel() and deadlines may withdraw (channels, select, sync).
struct cancellable_t {
  explicit cancellable_t() = default;
};
inline constexpr cancellable_t cancellable{};

/// Why a wait ended without a signal.
enum class withdrawn : std::uint8_t { no, canceled, timed_out };

/// The waiting coroutine's side: how to wake it, and whether it was.
struct XCORO_EXPORT waiter {
  /// `ex` queues the wake-up; `call` names the operation in abort messages. Aborts if
  /// called from root (nothing could ever resume it) or if `ex` is null. This waiter is not
  /// withdrawn by cancel (xawait, task_group::wait).
  waiter(executor* ex, const char* call) noexcept;
  /// As above, for a wait that cancel() and a deadline may end early (withdraw): the
  /// waiter is then marked signalled with `why` set and no entry fired, and woken through
  /// `ex`. A wait already signalled is left alone (it was satisfied).
  waiter(executor* ex, const char* call, cancellable_t) noexcept;
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;
  /// Cancels a wake-up still queued on the executor.
  ~waiter();

  /// Suspends until signalled (or withdrawn); wake-ups by anything else suspend again.
  /// Inline: every call level between a coroutine's code and its switch costs a
  /// mispredicted return after each resume.
  /// Forced inline: the shared-object test made it big enough for the compiler to call
  /// it out of line, which cost the channel ping-pong a mispredicted return per message.
  XCORO_WAIT_INLINE void wait() {
    while (!is_signalled()) {
      xsuspend();
    }
  }
  /// `signalled`, read without the object's lock: for a shared object another worker may
  /// set it meanwhile, so that read and the write are atomic (acquire and release: plain
  /// loads and stores on x86-64, and cheaper than a test of whether the object is shared).
  XCORO_WAIT_INLINE bool is_signalled() noexcept {
    return std::atomic_ref<bool>(signalled).load(std::memory_order_acquire);
  }
  /// Sets `signalled` (under the object's lock, if it has one).
  void set_signalled() noexcept {
    std::atomic_ref<bool>(signalled).store(true, std::memory_order_release);
  }
  /// As wait(), withdrawing the wait with withdrawn::timed_out at `at` (steady ns; see
  /// detail/deadline.hpp; no_deadline: as wait()). The deadline needs an executor driven
  /// by an aio loop.
  XCORO_WAIT_INLINE void wait(std::int64_t at) {
    if (at == no_deadline) {
      wait();
    } else {
      wait_timed(at);
    }
  }
  /// errc::canceled or std::errc::timed_out for a withdrawn wait; empty otherwise.
  std::error_code error() const noexcept;
  /// Ends the wait early with `why` unless it was signalled already; see the constructor.
  void withdraw(withdrawn why) noexcept;

  executor::func wake;
  executor* ex;
  coro* c;
  // The lock of the shared object waited on (detail/shared_lock.hpp), or nullptr: a
  // withdrawal, which comes from the waiter's own worker, takes it, as a signal does.
  std::mutex* lock = nullptr;
  const char* call;  // the blocking call, for messages
  int fired = -1;    // index of the entry that signalled
  bool signalled = false;
  withdrawn why = withdrawn::no;

 private:
  waiter(executor* ex, const char* call, const wait_kind* kind) noexcept;
  void wait_timed(std::int64_t at);
};

/// Whether the running coroutine's blocking calls must return errc::canceled now (a
/// cancel was requested and no cancel_shield holds it back); false in root.
inline bool cancel_pending_here() noexcept {
  coro* c = tls.current;
  return c != nullptr && coro_access::cancel_pending(c);
}

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
