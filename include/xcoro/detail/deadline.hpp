// Deadlines for the core's blocking calls (channel send and recv, select, with_timeout).
// The core has no clock of its own: an event loop that owns timers (aio's) gives the executor
// it drives a deadline_clock, and a deadline wait on an executor without one aborts with a
// message. A deadline thus fires from the same loop that wakes the waiter.
// See docs/cancel.md ("Deadlines").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "xcoro/export.hpp"

namespace xcoro {
class coro;
class executor;
}

namespace xcoro::detail {

/// One armed deadline. Lives on the arming coroutine's stack; the clock links it into its
/// timer structure and calls `fire` once, from the loop (never inside the arming call),
/// unless it is disarmed first.
struct deadline {
  std::int64_t at_ns = 0;  // steady clock, nanoseconds
  void (*fire)(deadline& d) noexcept = nullptr;
  void* ctx = nullptr;     // for `fire`
  std::size_t index = ~std::size_t{0};  // the clock's bookkeeping; ~0 while not armed

  bool armed() const noexcept { return index != ~std::size_t{0}; }
};

/// What a loop provides to run deadlines (aio's io_backend implements it).
class XCORO_EXPORT deadline_clock {
 public:
  /// Runs `d.fire(d)` from the loop once the steady clock reaches d.at_ns.
  virtual void arm(deadline& d) = 0;
  /// Forgets an armed `d`; nothing happens for one that fired already.
  virtual void disarm(deadline& d) noexcept = 0;

 protected:
  ~deadline_clock() = default;
};

/// Steady-clock nanoseconds.
inline std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// An absolute deadline as the core's waits take it: no_deadline (wait as long as it takes),
/// already_expired (a zero or negative timeout: do not suspend), or steady nanoseconds.
inline constexpr std::int64_t no_deadline = -1;
inline constexpr std::int64_t already_expired = -2;

/// The deadline `ms` from now, in those terms. Saturates instead of overflowing.
inline std::int64_t deadline_after(std::chrono::milliseconds ms) noexcept {
  if (ms.count() <= 0) {
    return already_expired;
  }
  constexpr std::int64_t max_ms = INT64_MAX / 1000000 / 2;
  std::int64_t n = ms.count() < max_ms ? ms.count() : max_ms;
  return steady_ns() + n * 1000000;
}

/// The deadline of one IO call, on steady_ns()'s clock, or none: one per call however many
/// operations it runs (write_all, read_all, a connect that retries, run_capture), so that
/// every step ends at the same point instead of each adding its own timeout. Unlike the
/// waits' deadlines above it has no "already expired" state: an IO call with a timeout of
/// 0 still tries its operation once, and fails with timed_out only if it would wait.
struct io_deadline {
  std::int64_t at_ns = -1;  // steady nanoseconds; -1: none

  /// None.
  io_deadline() noexcept = default;
  /// `timeout` from now; saturates instead of overflowing; 0 or less is now. Implicit, so
  /// that the timeout overload of a call passes its timeout on as it is, and the other `{}`.
  io_deadline(std::chrono::milliseconds timeout) noexcept : at_ns(steady_ns()) {
    constexpr std::int64_t max_ms = INT64_MAX / 1000000 / 2;
    if (timeout.count() > 0) {
      at_ns += (timeout.count() < max_ms ? timeout.count() : max_ms) * 1000000;
    }
  }
  static io_deadline none() noexcept { return {}; }
  static io_deadline after(std::chrono::milliseconds timeout) noexcept { return timeout; }
  /// after(*timeout), or none for nullptr.
  static io_deadline of(const std::chrono::milliseconds* timeout) noexcept {
    return timeout != nullptr ? after(*timeout) : none();
  }
  /// At `ns` on steady_ns()'s clock (-1: none).
  static io_deadline at(std::int64_t ns) noexcept {
    io_deadline d;
    d.at_ns = ns;
    return d;
  }
  bool is_none() const noexcept { return at_ns < 0; }
  /// For a step that takes a relative timeout: nullptr when there is no deadline; else
  /// `left`, set to what remains rounded up to whole milliseconds (rounded down, the step
  /// could end before the deadline), 0 once it has passed.
  const std::chrono::milliseconds* remaining(std::chrono::milliseconds& left) const noexcept {
    if (at_ns < 0) {
      return nullptr;
    }
    std::int64_t ns = at_ns - steady_ns();
    left = std::chrono::ceil<std::chrono::milliseconds>(
        std::chrono::nanoseconds(ns > 0 ? ns : 0));
    return &left;
  }
};

/// Arms `d` on `ex`'s clock for as long as it lives; aborts naming `call` and `self` if
/// `ex` has none.
class XCORO_EXPORT armed_deadline {
 public:
  armed_deadline(deadline& d, xcoro::executor& ex, const char* call, const coro* self);
  ~armed_deadline();
  armed_deadline(const armed_deadline&) = delete;
  armed_deadline& operator=(const armed_deadline&) = delete;

 private:
  deadline_clock* clock_;
  deadline& d_;
};

}  // namespace xcoro::detail
