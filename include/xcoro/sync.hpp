// Coroutine synchronisation: mutex, semaphore and wait_group. They suspend the calling
// coroutine, never the thread, and serve waiters in FIFO order by handing the resource
// straight to the first one. Woken coroutines are queued on an executor, as channel
// waiters are. See docs/executor.md.
#pragma once

#include <cstddef>
#include <cstdint>

#include "xcoro/detail/shared_lock.hpp"
#include "xcoro/detail/wait_queue.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"

namespace xcoro {

class coro;

/// A mutual-exclusion lock for coroutines (Lockable: works with std::lock_guard and
/// std::unique_lock). Not recursive. One made on a runtime's worker may be used from
/// coroutines on every worker of that runtime; otherwise, from one thread.
class XCORO_EXPORT mutex {
 public:
  /// Waiters are woken through `ex`; nullptr: the env executor at construction.
  explicit mutex(xcoro::executor* ex = nullptr) noexcept;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;
  /// Aborts with a message if coroutines still wait for it.
  ~mutex();

  /// Acquires the lock, suspending while another coroutine holds it. errc::canceled
  /// without the lock if the calling coroutine is cancelled, before or while waiting
  /// (docs/cancel.md); a lock handed over before the cancel arrived is held. In code that
  /// can be cancelled, check the result rather than locking through std::lock_guard, whose
  /// unlock would then abort. Aborts if the caller already holds it, or if it would have
  /// to wait in root.
  result<void> lock();
  /// Acquires the lock if it is free; never suspends.
  bool try_lock() noexcept;
  /// Releases the lock, handing it to the first waiter if any. Aborts if the calling
  /// coroutine does not hold it.
  void unlock();

 private:
  void release() noexcept;

  xcoro::executor* ex_;
  // Shared between a runtime's workers if made on one (detail/shared_lock.hpp); guards
  // the members below when it is.
  mutable detail::object_lock lock_;
  coro* holder_ = nullptr;
  detail::wait_queue waiters_;
};

/// A counting semaphore for coroutines (of one thread, or of one runtime's workers, as
/// mutex).
class XCORO_EXPORT semaphore {
 public:
  explicit semaphore(std::size_t initial, xcoro::executor* ex = nullptr) noexcept;
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;
  /// Aborts with a message if coroutines still wait on it.
  ~semaphore();

  /// Takes one unit, suspending while there is none. errc::canceled without a unit if the
  /// calling coroutine is cancelled, before or while waiting; a unit handed over before the
  /// cancel arrived is kept.
  result<void> acquire();
  /// Takes one unit if there is one; never suspends.
  bool try_acquire() noexcept;
  /// Returns `n` units, handing them to waiters first, in FIFO order.
  void release(std::size_t n = 1) noexcept;
  /// Units available now.
  std::size_t available() const noexcept;

 private:
  void release_locked(std::size_t n) noexcept;

  xcoro::executor* ex_;
  mutable detail::object_lock lock_;  // as mutex's
  std::size_t count_;
  detail::wait_queue waiters_;
};

/// Waits for a group of tasks to finish (Go's sync.WaitGroup).
class XCORO_EXPORT wait_group {
 public:
  explicit wait_group(xcoro::executor* ex = nullptr) noexcept;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;
  /// Aborts with a message if coroutines still wait on it.
  ~wait_group();

  /// Adds `n` to the counter.
  void add(std::size_t n = 1) noexcept;
  /// Subtracts one; at zero, wakes every waiter. Aborts if the counter is already zero.
  void done();
  /// Suspends until the counter is zero; returns at once if it is. errc::canceled if the
  /// calling coroutine is cancelled, before or while waiting.
  result<void> wait();
  /// The counter.
  std::size_t count() const noexcept;

 private:
  xcoro::executor* ex_;
  mutable detail::object_lock lock_;  // as mutex's
  std::size_t count_ = 0;
  detail::wait_queue waiters_;
};

}  // namespace xcoro
