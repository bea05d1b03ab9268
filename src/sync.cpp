// mutex, semaphore and wait_group: one wait queue each, FIFO hand-off to the first waiter.
// A waiter that was handed the resource but is unwound (its frame_t destroyed) before it
// runs gives the resource back on its way out, so nothing is lost.
#include "xcoro/sync.hpp"

#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/detail/shared_lock.hpp"
#include "xcoro/scope.hpp"

namespace xcoro {
namespace {

/// Waits on `q` until signalled (the resource was handed over) or withdrawn (cancel):
/// empty or errc::canceled. If unwound after being signalled, calls give_back() first.
/// `g` holds the object's shared lock (if any): released while suspended.
template <class GiveBack>
std::error_code wait_in(detail::wait_queue& q, xcoro::executor* ex, detail::object_lock& lock,
                        detail::object_guard<>& g, const char* call, GiveBack give_back) {
  detail::waiter w(detail::wake_executor(ex, lock.shared()), call, detail::cancellable);
  w.lock = lock.if_shared();
  detail::wait_entry e(w);
  q.push_back(e);
  g.release();
#if defined(__cpp_exceptions)
  try {
    w.wait();
  } catch (...) {
    g.reacquire();
    if (w.signalled && w.why == detail::withdrawn::no) {
      give_back();
    }
    throw;
  }
#else
  w.wait();
  (void)give_back;
#endif
  g.reacquire();
  return w.error();
}

}  // namespace

mutex::mutex(xcoro::executor* ex) noexcept
    : ex_(detail::default_executor(ex)) {}

mutex::~mutex() {
  if (!waiters_.idle()) {
    detail::fatal_destroyed_busy("mutex");
  }
}

result<void> mutex::lock() {
  coro* self = xframe();
  if (detail::cancel_pending_here()) [[unlikely]] {
    return errc::canceled;
  }
  detail::object_guard<> g(lock_.if_shared());
  if (holder_ == nullptr) {
    holder_ = self;
    return {};
  }
  if (holder_ == self) {
    detail::fatal("mutex::lock", self, "already holds this mutex (it is not recursive)");
  }
  if (std::error_code ec =
          wait_in(waiters_, ex_, lock_, g, "mutex::lock", [this] { release(); })) {
    return ec;
  }
  return {};
}

bool mutex::try_lock() noexcept {
  detail::object_guard<> g(lock_.if_shared());
  if (holder_ != nullptr) {
    return false;
  }
  holder_ = xframe();
  return true;
}

void mutex::unlock() {
  detail::object_guard<> g(lock_.if_shared());
  if (holder_ != xframe()) {
    detail::fatal("mutex::unlock", xframe(),
                  cancel_requested()
                      ? "does not hold this mutex (it was cancelled: did lock() return "
                        "errc::canceled?)"
                      : "does not hold this mutex");
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

result<void> semaphore::acquire() {
  if (detail::cancel_pending_here()) [[unlikely]] {
    return errc::canceled;
  }
  detail::object_guard<> g(lock_.if_shared());
  if (count_ > 0) {
    --count_;
    return {};
  }
  if (std::error_code ec = wait_in(waiters_, ex_, lock_, g, "semaphore::acquire",
                                   [this] { release_locked(1); })) {
    return ec;
  }
  return {};
}

bool semaphore::try_acquire() noexcept {
  detail::object_guard<> g(lock_.if_shared());
  if (count_ == 0) {
    return false;
  }
  --count_;
  return true;
}

void semaphore::release(std::size_t n) noexcept {
  detail::object_guard<> g(lock_.if_shared());
  release_locked(n);
}

std::size_t semaphore::available() const noexcept {
  detail::object_guard<> g(lock_.if_shared());
  return count_;
}

void semaphore::release_locked(std::size_t n) noexcept {
  while (n > 0 && detail::signal_one(waiters_) != nullptr) {
    --n;  // handed to a waiter
  }
  count_ += n;
}

wait_group::wait_group(xcoro::executor* ex) noexcept
    : ex_(detail::default_executor(ex)) {}

wait_group::~wait_group() {
  if (!waiters_.idle()) {
    detail::fatal_destroyed_busy("wait_group");
  }
}

void wait_group::add(std::size_t n) noexcept {
  detail::object_guard<> g(lock_.if_shared());
  count_ += n;
}

std::size_t wait_group::count() const noexcept {
  detail::object_guard<> g(lock_.if_shared());
  return count_;
}

void wait_group::done() {
  detail::object_guard<> g(lock_.if_shared());
  if (count_ == 0) {
    detail::fatal("wait_group::done", xframe(), "called done() more times than add()");
  }
  if (--count_ == 0) {
    detail::signal_all(waiters_);
  }
}

result<void> wait_group::wait() {
  if (detail::cancel_pending_here()) [[unlikely]] {
    return errc::canceled;
  }
  detail::object_guard<> g(lock_.if_shared());
  if (count_ == 0) {
    return {};
  }
  if (std::error_code ec = wait_in(waiters_, ex_, lock_, g, "wait_group::wait", [] {})) {
    return ec;
  }
  return {};
}

}  // namespace xcoro
