// A count of the C calls waiting on an object (channel, mutex, semaphore, wait_group).
#pragma once

#include <atomic>

namespace xcoro::c_api {

/// Counts the C calls that wait on an object, so that destroying it while one waits is
/// refused (XCORO_EBUSY) instead of the C++ abort. A coroutine counts from the moment it
/// starts waiting until its call returns, so a woken one that has not run yet counts too.
class wait_count {
 public:
  class hold {
   public:
    explicit hold(wait_count& w) noexcept : w_(w) { w_.add(); }
    ~hold() { w_.drop(); }
    hold(const hold&) = delete;
    hold& operator=(const hold&) = delete;

   private:
    wait_count& w_;
  };
  bool busy() const noexcept { return n_.load(std::memory_order_acquire) != 0; }
  /// One more call waits; drop() once it returns (a hold does both).
  void add() noexcept { n_.fetch_add(1, std::memory_order_relaxed); }
  void drop() noexcept { n_.fetch_sub(1, std::memory_order_release); }

 private:
  std::atomic<int> n_{0};
};

}  // namespace xcoro::c_api
