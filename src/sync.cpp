// mutex, semaphore and wait_group: one wait queue each, FIFO hand-off to the first waiter.
// A waiter that was handed the resource but is unwound (its frame_t destroyed) before it
// runs gives the resource back on its way out, so nothing is lost.
#include "xcoro/sync.hpp"

#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"

namespace xcoro {
namespace {

/// Waits on `q`; if unwound after being signalled, calls give_back() first.
template <class GiveBack>
void wait_in(detail::wait_queue& q, xcoro::executor* ex, const char* call, GiveBack give_back) {
  detail::waiter w(ex, call);
  detail::wait_entry e(w);
  q.push_back(e);
#if defined(__cpp_exceptions)
  try {
    w.wait();
  } catch (...) {
    if (w.signalled) {
      give_back();
    }
    throw;
  }
#else
  w.wait();
  (void)give_back;
#endif
}

}  // namespace

mutex::mutex(xcoro::executor* ex) noexcept : ex_(detail::default_executor(ex)) {}

mutex::~mutex() {
  if (!waiters_.idle()) {
    detail::fatal_destroyed_busy("mutex");
  }
}

void mutex::lock() {
  coro* self = xframe();
  if (holder_ == nullptr) {
    holder_ = self;
    return;
  }
  if (holder_ == self) {
    detail::fatal("mutex::lock", self, "already holds this mutex (it is not recursive)");
  }
  wait_in(waiters_, ex_, "mutex::lock", [this] { release(); });
}

bool mutex::try_lock() noexcept {
  if (holder_ != nullptr) {
    return false;
  }
  holder_ = xframe();
  return true;
}

void mutex::unlock() {
  if (holder_ != xframe()) {
    detail::fatal("mutex::unlock", xframe(), "does not hold this mutex");
  }
  release();
}

void mutex::release() noexcept {
  if (detail::wait_entry* e = detail::signal_one(waiters_)) {
    holder_ = e->owner->c;  // hand-off: the first waiter owns it now
  } else {
    holder_ = nullptr;
  }
}

semaphore::semaphore(std::size_t initial, xcoro::executor* ex) noexcept
    : ex_(detail::default_executor(ex)), count_(initial) {}

semaphore::~semaphore() {
  if (!waiters_.idle()) {
    detail::fatal_destroyed_busy("semaphore");
  }
}

void semaphore::acquire() {
  if (count_ > 0) {
    --count_;
    return;
  }
  wait_in(waiters_, ex_, "semaphore::acquire", [this] { release(1); });
}

bool semaphore::try_acquire() noexcept {
  if (count_ == 0) {
    return false;
  }
  --count_;
  return true;
}

void semaphore::release(std::size_t n) noexcept {
  while (n > 0 && detail::signal_one(waiters_) != nullptr) {
    --n;  // handed to a waiter
  }
  count_ += n;
}

wait_group::wait_group(xcoro::executor* ex) noexcept : ex_(detail::default_executor(ex)) {}

wait_group::~wait_group() {
  if (!waiters_.idle()) {
    detail::fatal_destroyed_busy("wait_group");
  }
}

void wait_group::add(std::size_t n) noexcept {
  count_ += n;
}

void wait_group::done() {
  if (count_ == 0) {
    detail::fatal("wait_group::done", xframe(), "called done() more times than add()");
  }
  if (--count_ == 0) {
    detail::signal_all(waiters_);
  }
}

void wait_group::wait() {
  if (count_ == 0) {
    return;
  }
  wait_in(waiters_, ex_, "wait_group::wait", [] {});
}

}  // namespace xcoro
