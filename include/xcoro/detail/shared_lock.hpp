// The lock of objects shared between a runtime's workers: channels and sync primitives
// made on a worker take it around every change of their state, and their waiters are woken
// through their own worker's executor (docs/runtime.md, "Channels, sync and waiting across
// workers"). Objects made outside a runtime have none, and pay one test of a null pointer.
#pragma once

#include <mutex>

#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"

namespace xcoro::detail {

/// The lock for objects made on this thread: the runtime's, on one of its workers;
/// nullptr elsewhere.
inline std::mutex* shared_lock_here() noexcept {
  return static_cast<std::mutex*>(tls.shared_lock);
}

/// Holds `m` for a scope, unless it is null. A blocking call releases it before it
/// suspends and takes it again when resumed: it is never held across a switch. With
/// `Shared` false (a hot path already known to be unshared) it does nothing at all.
template <bool Shared = true>
class basic_shared_guard {
 public:
  explicit basic_shared_guard(std::mutex* m) noexcept : m_(m) {
    if constexpr (Shared) {
      if (m_ != nullptr) {
        m_->lock();
      }
    }
  }
  ~basic_shared_guard() {
    if constexpr (Shared) {
      if (m_ != nullptr) {
        m_->unlock();
      }
    }
  }
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
  std::mutex* m_;
};
using shared_guard = basic_shared_guard<true>;

/// The executor a coroutine waiting on an object is woken through: the object's, or for a
/// shared object the waiting coroutine's own worker's.
inline xcoro::executor* wake_executor(xcoro::executor* object_ex, std::mutex* lock) noexcept {
  return lock == nullptr ? object_ex : get_env().executor;
}

}  // namespace xcoro::detail
