// signal_set: the process-wide table of sets per signal, the sigaction handler that feeds
// it, and the wait, an 8-byte read of the set's eventfd through the loop. See docs/io.md,
// "Signals", for why this is a handler and an eventfd rather than signalfd.
//
// The handler may run on any thread, in the middle of anything (a malloc, a context
// switch, the table's own mutex held by create or release), so it touches only atomics and
// write(2) on eventfds: no locks, no allocation. What create and release change under the
// mutex is the handler's view through atomic slot pointers, and release waits until no
// handler can still hold the pointer it cleared before freeing the state or closing the
// eventfd (a write to a closed number could land in whatever file reused it).
#include "xcoro/signal.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <new>
#include <system_error>

#include "aio/backend.hpp"

namespace xcoro::aio {
namespace detail {

namespace {
constexpr int max_sets_per_signal = 32;
}  // namespace

/// One set's counts, on the heap so that the handler's pointer to it survives moves of the
/// signal_set.
struct signal_state {
  int fd = -1;
  int nsignals = 0;
  int next = 0;  // where the next wait starts looking: pending signals are returned in turn
  int signals[NSIG] = {};
  std::atomic<std::uint64_t> pending[NSIG] = {};  // arrivals no wait has taken yet
  std::atomic<std::uint64_t> total[NSIG] = {};    // arrivals since the set was made
};

namespace {

// The table. Slots are read by the handler; everything else only under table_mutex.
constinit std::atomic<signal_state*> slots[NSIG][max_sets_per_signal] = {};
constinit int users[NSIG] = {};
constinit struct sigaction previous[NSIG] = {};
constinit std::mutex table_mutex;
// Handlers between their first and last look at the slots, on any thread.
constinit std::atomic<int> handlers_running{0};

extern "C" void on_signal(int sig) {
  int saved_errno = errno;
  // seq_cst pairs with release(): either this load sees the slot cleared, or the clearing
  // thread sees handlers_running > 0 and waits for us.
  handlers_running.fetch_add(1, std::memory_order_seq_cst);
  for (auto& slot : slots[sig]) {
    signal_state* s = slot.load(std::memory_order_seq_cst);
    if (s == nullptr) {
      continue;
    }
    s->total[sig].fetch_add(1, std::memory_order_relaxed);
    // Counted before the wake-up: a waiter woken by the write finds the count.
    s->pending[sig].fetch_add(1, std::memory_order_release);
    std::uint64_t one = 1;
    // EAGAIN (the counter is at its maximum) still leaves the eventfd readable, and EINTR
    // cannot happen to an eventfd write that does not block: nothing to retry.
    [[maybe_unused]] ssize_t n = ::write(s->fd, &one, sizeof one);
  }
  handlers_running.fetch_sub(1, std::memory_order_seq_cst);
  errno = saved_errno;
}

/// Takes `s` out of the slots of its first `registered` signals; puts back the previous
/// action of each that no other set asks for. Caller holds table_mutex.
void unregister(signal_state* s, int registered) noexcept {
  for (int i = 0; i < registered; ++i) {
    int sig = s->signals[i];
    for (auto& slot : slots[sig]) {
      if (slot.load(std::memory_order_relaxed) == s) {
        slot.store(nullptr, std::memory_order_seq_cst);
        break;
      }
    }
    if (--users[sig] == 0) {
      ::sigaction(sig, &previous[sig], nullptr);
    }
  }
}

/// Returns once no handler can still be using a pointer it read before the caller cleared
/// it. A handler is a few atomic adds and one write(2), so this spins briefly at most.
void wait_for_handlers() noexcept {
  while (handlers_running.load(std::memory_order_seq_cst) != 0) {
    ::sched_yield();
  }
}

/// Puts `s` in a free slot of each of its signals, installing the handler for a signal no
/// set asked for yet. Caller holds table_mutex. On failure nothing stays registered.
std::error_code register_set(signal_state* s) noexcept {
  for (int i = 0; i < s->nsignals; ++i) {
    int sig = s->signals[i];
    std::atomic<signal_state*>* free_slot = nullptr;
    for (auto& slot : slots[sig]) {
      if (slot.load(std::memory_order_relaxed) == nullptr) {
        free_slot = &slot;
        break;
      }
    }
    if (free_slot == nullptr) {
      unregister(s, i);
      return std::make_error_code(std::errc::too_many_files_open);
    }
    if (users[sig] == 0) {
      struct sigaction sa {};
      sa.sa_handler = &on_signal;
      sigemptyset(&sa.sa_mask);
      // SA_RESTART: the program's other threads should not see EINTR because a set exists.
      // SA_NOCLDSTOP: SIGCHLD for children that ended, not for ones stopped or continued.
      sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
      if (::sigaction(sig, &sa, &previous[sig]) != 0) {
        unregister(s, i);
        return std::make_error_code(std::errc::invalid_argument);
      }
    }
    ++users[sig];
    free_slot->store(s, std::memory_order_seq_cst);
  }
  return {};
}

}  // namespace
}  // namespace detail

result<signal_set> signal_set::create(executor* ex, std::initializer_list<int> signals) {
  if (signals.size() == 0) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  for (int sig : signals) {
    if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) {
      return std::make_error_code(std::errc::invalid_argument);
    }
  }
  detail::io_backend& b = detail::resolve(ex, "signal_set::create").get_loop().impl();
  auto* s = new (std::nothrow) detail::signal_state;
  if (s == nullptr) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  for (int sig : signals) {
    bool seen = false;
    for (int i = 0; i < s->nsignals; ++i) {
      seen = seen || s->signals[i] == sig;
    }
    if (!seen) {
      s->signals[s->nsignals++] = sig;
    }
  }
  s->fd = ::eventfd(0, EFD_CLOEXEC | (b.wants_nonblocking() ? EFD_NONBLOCK : 0));
  if (s->fd < 0) {
    std::error_code ec(errno, std::system_category());
    delete s;
    return ec;
  }
  std::error_code ec;
  {
    std::lock_guard lock(detail::table_mutex);
    ec = detail::register_set(s);
  }
  if (ec) {
    detail::wait_for_handlers();
    ::close(s->fd);
    delete s;
    return ec;
  }
  return signal_set(ex, s->fd, s);
}

signal_set::signal_set(signal_set&& o) noexcept
    : descriptor(std::move(o)), state_(std::exchange(o.state_, nullptr)) {}

signal_set& signal_set::operator=(signal_set&& o) noexcept {
  if (this != &o) {
    release();
    descriptor::operator=(std::move(o));
    state_ = std::exchange(o.state_, nullptr);
  }
  return *this;
}

signal_set::~signal_set() {
  release();
  // ~descriptor then closes the eventfd, which no handler can reach any more.
}

void signal_set::release() noexcept {
  if (state_ == nullptr) {
    return;
  }
  {
    std::lock_guard lock(detail::table_mutex);
    detail::unregister(state_, state_->nsignals);
  }
  detail::wait_for_handlers();
  delete state_;
  state_ = nullptr;
}

result<int> signal_set::wait() {
  return wait_for(nullptr);
}

result<int> signal_set::wait(milliseconds timeout) {
  return wait_for(&timeout);
}

result<int> signal_set::wait_for(const milliseconds* timeout) {
  if (state_ == nullptr) {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  // Checked before anything is looked at, so that misuse names this call at once.
  (void)detail::resolve_op(ex_, "signal_set::wait");
  detail::io_deadline deadline = detail::io_deadline::of(timeout);
  detail::signal_state& s = *state_;
  for (;;) {
    // Look first: an arrival counted before this wait (or one whose eventfd write an
    // earlier read already drained) must not wait for the next one.
    for (int i = 0; i < s.nsignals; ++i) {
      int idx = (s.next + i) % s.nsignals;
      int sig = s.signals[idx];
      if (s.pending[sig].load(std::memory_order_acquire) != 0) {
        s.pending[sig].exchange(0, std::memory_order_acquire);
        s.next = (idx + 1) % s.nsignals;
        return sig;
      }
    }
    // Nothing counted: wait for the handler's write. A stale wake-up (a write whose count
    // a previous wait already took) only brings us round the loop again.
    std::uint64_t wakeups = 0;
    result<std::size_t> r = detail::run_op(ex_, "signal_set::wait", detail::op_kind::read, fd_,
                                           deadline, [&](detail::io_op& op) {
                                             op.buf = &wakeups;
                                             op.len = sizeof wakeups;
                                           });
    if (!r) {
      return r.error();
    }
  }
}

std::uint64_t signal_set::count(int sig) const noexcept {
  if (state_ == nullptr || sig <= 0 || sig >= NSIG) {
    return 0;
  }
  return state_->total[sig].load(std::memory_order_relaxed);
}

}  // namespace xcoro::aio
