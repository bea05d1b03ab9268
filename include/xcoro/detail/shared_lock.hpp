// The locks of objects shared between a runtime's workers. Each channel and sync primitive
// made on a worker has a lock of its own (object_lock), held around every change of its
// state and never across a switch; its waiters are woken through their own worker's
// executor (docs/runtime.md, "Channels, sync and waiting across workers"). Objects made
// outside a runtime are unshared, and pay one test of a flag per call.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>

#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/export.hpp"

namespace xcoro::detail {

/// The lock of one channel or sync primitive, shared if the object was made on a worker of
/// a runtime. It is held only while the object's queues and counters change, so a thread
/// that finds it held spins briefly, then sleeps on it (a futex on Linux, through
/// std::atomic::wait): the runtime may have more workers than cores, and a holder preempted
/// meanwhile would otherwise be spun against for its whole time slice. Uncontended, lock
/// and unlock are one atomic instruction each. Lock order: a task_group's lock, then object
/// locks in address order (select), then an executor's own (a wake-up is posted under the
/// object's lock).
class object_lock {
 public:
  /// Shared if the calling thread is a worker of a runtime.
  object_lock() noexcept : shared_(tls.shared_lock != nullptr) {}
  object_lock(const object_lock&) = delete;
  object_lock& operator=(const object_lock&) = delete;

  /// True if the object is shared between a runtime's workers.
  bool shared() const noexcept { return shared_; }
  /// This lock if the object is shared; nullptr if it is not (a guard then does nothing).
  object_lock* if_shared() noexcept { return shared_ ? this : nullptr; }

  void lock() noexcept {
    int expected = free;
    if (state_.compare_exchange_strong(expected, held, std::memory_order_acquire)) [[likely]] {
      return;
    }
    lock_contended();
  }
  void unlock() noexcept {
    if (state_.exchange(free, std::memory_order_release) == held_with_sleepers) [[unlikely]] {
      wake_one();
    }
  }

 private:
  // The three states of a futex lock, as in Drepper's "Futexes Are Tricky".
  static constexpr int free = 0;
  static constexpr int held = 1;
  static constexpr int held_with_sleepers = 2;

  XCORO_EXPORT void lock_contended() noexcept;  // src/wait_queue.cpp
  XCORO_EXPORT void wake_one() noexcept;

  std::atomic<int> state_{free};
  bool shared_;
};

/// Holds `*m` for a scope, unless `m` is null. A blocking call releases it before it
/// suspends and takes it again when resumed: it is never held across a switch. With
/// `Shared` false (a hot path already known to be unshared) it does nothing at all.
/// `Lock` is object_lock for channels and sync primitives; task_group's std::mutex too.
template <bool Shared = true, class Lock = std::mutex>
class basic_shared_guard {
 public:
  explicit basic_shared_guard(Lock* m) noexcept : m_(m) { reacquire(); }
  ~basic_shared_guard() { release(); }
  basic_shared_guard(const basic_shared_guard&) = delete;
  basic_shared_guard& operator=(const basic_shared_guard&) = delete;
  void release() noexcept {
    if constexpr (Shared) {
      if (m_ != nullptr) {
        m_->unlock();
      }
    }
  }
  void reacquire() noexcept {
    if constexpr (Shared) {
      if (m_ != nullptr) {
        m_->lock();
      }
    }
  }

 private:
  Lock* m_;
};
using shared_guard = basic_shared_guard<true>;
template <bool Shared = true>
using object_guard = basic_shared_guard<Shared, object_lock>;

/// Holds the locks of up to N objects at once (select's cases), taken in address order so
/// that two selects over the same channels in opposite orders cannot deadlock (Go's
/// selectgo sorts its channels the same way). Unshared objects (null) and repeats are
/// left out. Released around a switch as basic_shared_guard is.
template <std::size_t N>
class multi_guard {
 public:
  explicit multi_guard(object_lock* const (&given)[N]) noexcept {
    for (object_lock* l : given) {
      if (l == nullptr) {
        continue;
      }
      std::size_t i = n_;
      while (i > 0 && std::less<object_lock*>{}(l, locks_[i - 1])) {
        --i;
      }
      if (i > 0 && locks_[i - 1] == l) {
        continue;  // the same object in two cases
      }
      for (std::size_t j = n_; j > i; --j) {
        locks_[j] = locks_[j - 1];
      }
      locks_[i] = l;
      ++n_;
    }
    reacquire();
  }
  ~multi_guard() { release(); }
  multi_guard(const multi_guard&) = delete;
  multi_guard& operator=(const multi_guard&) = delete;

  /// True if any of the objects is shared.
  bool shared() const noexcept { return n_ > 0; }
  void release() noexcept {
    for (std::size_t i = n_; i > 0; --i) {
      locks_[i - 1]->unlock();
    }
  }
  void reacquire() noexcept {
    for (std::size_t i = 0; i < n_; ++i) {
      locks_[i]->lock();
    }
  }

 private:
  object_lock* locks_[N] = {};
  std::size_t n_ = 0;
};

/// The executor a coroutine waiting on an object is woken through: the object's, or for a
/// shared object the waiting coroutine's own worker's.
inline xcoro::executor* wake_executor(xcoro::executor* object_ex, bool shared) noexcept {
  return shared ? get_env().executor : object_ex;
}

}  // namespace xcoro::detail
