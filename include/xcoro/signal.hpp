// Waiting for POSIX signals in a coroutine (asio's signal_set): a sigaction handler per
// asked-for signal that counts arrivals and writes the eventfd of every set waiting for it,
// so a set wakes through its own loop on whichever thread or worker it waits. See
// docs/io.md, "Signals".
#pragma once

#include "xcoro/config.hpp"

#if XCORO_WITH_AIO

#include <cstdint>
#include <initializer_list>

#include "xcoro/aio.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"

namespace xcoro::aio {

namespace detail {
struct signal_state;
}  // namespace detail

/// A set of signals a coroutine can wait for. Move-only.
///
/// Creating the first set for a signal installs xcoro's handler for it (with SA_RESTART; for
/// SIGCHLD also SA_NOCLDSTOP) and saves the action it replaces; destroying the last set for
/// it puts that action back. Signals no set asks for keep whatever action they have.
///
/// Every set counts every arrival of each of its signals on its own: two sets for the same
/// signal are both woken, and each sees every arrival (as asio's signal_set). Arrivals
/// coalesce: wait() returns one signal number and takes every arrival of that signal
/// counted so far, so a storm ends a waiting loop rather than queueing it; but no arrival
/// is lost, an arrival after a wait began ends that wait. The kernel itself merges arrivals
/// of a standard signal that is already pending, so count() is a lower bound of the
/// kill(2)s sent.
///
/// A set made with a nullptr executor waits through the calling thread's env executor at
/// each wait (inside a runtime, from any worker, one wait at a time); made with an explicit
/// executor, it belongs to that executor's thread. At most 32 sets may ask for one signal at
/// a time.
class XCORO_EXPORT signal_set : private detail::descriptor {
 public:
  /// A set waiting for `signals` (duplicates are ignored). Errors:
  /// std::errc::invalid_argument for an empty list, SIGKILL, SIGSTOP, a number outside
  /// 1..NSIG-1, or one sigaction refuses (glibc's internal real-time signals);
  /// std::errc::too_many_files_open when 32 sets already ask for one of `signals`; those
  /// of eventfd(2). Callable from root or a coroutine on any thread.
  static result<signal_set> create(executor* ex, std::initializer_list<int> signals);

  signal_set(signal_set&& o) noexcept;
  signal_set& operator=(signal_set&& o) noexcept;
  /// Stops counting; puts back the previous action of each signal no other set asks for.
  ~signal_set();

  /// Suspends the calling coroutine (or, from root, pumps the loop) until one of the set's
  /// signals has arrived since the set was made or the last wait took it, and returns its
  /// number; several pending signals are returned by successive waits in turn. A
  /// cancellation point: errc::canceled. std::errc::bad_file_descriptor on a moved-from
  /// set.
  result<int> wait();
  /// wait() for at most `timeout`: std::errc::timed_out.
  result<int> wait(milliseconds timeout);

  /// How many arrivals of `sig` this set has counted since it was made (0 for a signal it
  /// does not ask for). Thread-safe.
  std::uint64_t count(int sig) const noexcept;

  /// The eventfd the handler writes.
  using descriptor::native_handle;

 private:
  signal_set(executor* ex, int fd, detail::signal_state* s) noexcept
      : descriptor(ex, fd), state_(s) {}
  /// Takes the set out of the process-wide table and frees its state.
  void release() noexcept;
  result<int> wait_for(const milliseconds* timeout);

  detail::signal_state* state_ = nullptr;
};

}  // namespace xcoro::aio

#endif  // XCORO_WITH_AIO
