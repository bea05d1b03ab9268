// Waiting for channels, sync primitives and coroutine completion: a waiter on the waiting
// coroutine's stack, its entries in intrusive FIFO wait queues, and signalling through the
// executor. See docs/executor.md ("Waiting without stale records").
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
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
  /// claim it meanwhile, so that read and the claim are atomic (an acquire load: a plain
  /// load on x86-64, and cheaper than a test of whether the object is shared).
  XCORO_WAIT_INLINE bool is_signalled() noexcept {
    return std::atomic_ref<bool>(signalled).load(std::memory_order_acquire);
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
  /// Called on the waiter's own thread, without the object's lock: it claims the waiter
  /// (detail::claim), and a signal that lost the claim leaves it alone.
  void withdraw(withdrawn why) noexcept;

  executor::func wake;
  executor* ex;
  coro* c;
  // Non-null if the object waited on is shared between a runtime's workers (its lock,
  // detail/shared_lock.hpp): signallers on other workers (for a select, under other
  // objects' locks) and the waiter's own withdrawal then claim it with an atomic exchange.
  // Only whether it is null is read.
  const void* lock = nullptr;
  const char* call;  // the blocking call, for messages
  int fired = -1;    // index of the entry that signalled; written by the claim's winner
  bool signalled = false;  // claimed: by a signal, or by a withdrawal (then `why` is set)
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

/// Claims `w` for the caller (docs/runtime.md, "Claiming a waiter"): true if no signal or
/// withdrawal claimed it before. A shared waiter is claimed with an atomic exchange, an
/// unshared one with a load and a store (its signals come from one thread, or, for the
/// awaiters of one handed-off coroutine, under that coroutine's hand-off word).
inline bool claim(waiter& w) noexcept {
  std::atomic_ref<bool> s(w.signalled);
  if (w.lock == nullptr) [[likely]] {
    if (s.load(std::memory_order_relaxed)) {
      return false;
    }
    s.store(true, std::memory_order_release);
    return true;
  }
  // A select's other objects are signalled under their own locks, and a withdrawal takes
  // none: the exchange decides. The load first keeps the losers (a select already fired
  // elsewhere) from writing the line.
  return !s.load(std::memory_order_relaxed) && !s.exchange(true, std::memory_order_acq_rel);
}
/// For an entry the caller claimed (wait_queue::claim_first): unlinks it, records which
/// entry fired, and queues the owner's wake-up through its executor. Anything handed to
/// the owner is written before this; for a shared object, under its lock.
XCORO_EXPORT void wake_claimed(wait_entry& e) noexcept;
/// Claims and wakes the first entry of `q` that can be claimed; returns it, or nullptr.
XCORO_EXPORT wait_entry* signal_one(wait_queue& q) noexcept;
/// Claims and wakes every entry of `q` that can be claimed.
XCORO_EXPORT void signal_all(wait_queue& q) noexcept;

}  // namespace xcoro::detail
