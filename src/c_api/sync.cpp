// The C API's mutex, semaphore and wait_group, cancellation and task groups. Each handle
// wraps the C++ object and counts the C calls waiting on it, so that destroying a busy one
// is an error code (XCORO_EBUSY) instead of the C++ abort.
#include <atomic>
#include <mutex>
#include <vector>

#include "c_api/c_api.hpp"
#include "c_api/wait_count.hpp"
#include "xcoro/scope.hpp"
#include "xcoro/sync.hpp"

using namespace xcoro;
using namespace xcoro::c_api;

struct xcoro_mutex {
  XCORO_C_ALLOCATED
  explicit xcoro_mutex(executor* ex) noexcept : m(ex) {}
  xcoro::mutex m;
  std::atomic<coro*> holder{nullptr};  // written by the holder only; read by unlock's check
  wait_count waiting;
};

struct xcoro_sem {
  XCORO_C_ALLOCATED
  xcoro_sem(std::size_t initial, executor* ex) noexcept : s(initial, ex) {}
  xcoro::semaphore s;
  wait_count waiting;
};

struct xcoro_wait_group {
  XCORO_C_ALLOCATED
  explicit xcoro_wait_group(executor* ex) noexcept : wg(ex) {}
  xcoro::wait_group wg;
  wait_count waiting;
};

struct xcoro_group {
  XCORO_C_ALLOCATED
  xcoro::task_group g;
};

namespace xcoro::c_api {
namespace {

/// A C code as the std::error_code C++ would use for it, so that C++ code comparing with
/// errc::canceled or std::errc::timed_out (task_group::wait does) sees the same thing.
std::error_code from_c(int err) noexcept {
  switch (err) {
    case XCORO_ECANCELED: return errc::canceled;
    case XCORO_ECLOSED: return errc::channel_closed;
    case XCORO_EDEADLOCK: return errc::deadlock;
    case XCORO_EEOF: return errc::eof;
    case XCORO_ETIMEDOUT: return std::make_error_code(std::errc::timed_out);
    default: break;
  }
  if (int e = xcoro_errno(err); e != 0) {
    return std::error_code(e, std::system_category());
  }
  return to_error_code(err);
}

/// The cancel_shield objects that xcoro_shield_begin made, by coroutine: C has no scope to
/// end them, so xcoro_shield_end finds the running coroutine's latest one. A coroutine of a
/// runtime may end its shield on another worker, so the list is global. Shields are rare.
struct shield_list {
  std::mutex lock;
  std::vector<std::pair<coro*, cancel_shield*>> live;
};
shield_list& shields() noexcept {
  static shield_list s;
  return s;
}

/// A blocking call in root: C++ aborts where it would have to wait, C tries first.
template <class Try>
int try_in_root(Try&& attempt) {
  return attempt() ? XCORO_OK : XCORO_EROOT;
}

}  // namespace
}  // namespace xcoro::c_api

extern "C" {

int xcoro_mutex_create(xcoro_mutex** out, xcoro_executor* ex) noexcept {
  return new_handle(out, "xcoro_mutex_create", reinterpret_cast<executor*>(ex));
}

int xcoro_mutex_destroy(xcoro_mutex* m) noexcept {
  if (m != nullptr && m->holder.load(std::memory_order_acquire) != nullptr) {
    return XCORO_EBUSY;
  }
  return delete_unless_waited(m);
}

int xcoro_mutex_lock(xcoro_mutex* m) noexcept {
  if (m == nullptr) {
    return XCORO_EINVAL;
  }
  if (in_root()) {
    return xcoro_mutex_try_lock(m) == XCORO_OK ? XCORO_OK : XCORO_EROOT;
  }
  return guarded("xcoro_mutex_lock", [&] {
    wait_count::hold h(m->waiting);
    result<void> r = m->m.lock();
    if (!r) {
      return to_c(r.error());
    }
    m->holder.store(xframe(), std::memory_order_relaxed);
    return XCORO_OK;
  });
}

int xcoro_mutex_try_lock(xcoro_mutex* m) noexcept {
  if (m == nullptr) {
    return XCORO_EINVAL;
  }
  if (!m->m.try_lock()) {
    return XCORO_EAGAIN;
  }
  m->holder.store(xframe(), std::memory_order_relaxed);
  return XCORO_OK;
}

int xcoro_mutex_unlock(xcoro_mutex* m) noexcept {
  if (m == nullptr) {
    return XCORO_EINVAL;
  }
  if (m->holder.load(std::memory_order_relaxed) != xframe()) {
    return XCORO_EPERM;
  }
  // Cleared before the hand-off: the next holder stores itself once its lock returns.
  m->holder.store(nullptr, std::memory_order_relaxed);
  return guarded("xcoro_mutex_unlock", [&] {
    m->m.unlock();
    return XCORO_OK;
  });
}

int xcoro_sem_create(xcoro_sem** out, size_t initial, xcoro_executor* ex) noexcept {
  return new_handle(out, "xcoro_sem_create", initial, reinterpret_cast<executor*>(ex));
}

int xcoro_sem_destroy(xcoro_sem* s) noexcept {
  return delete_unless_waited(s);
}

int xcoro_sem_acquire(xcoro_sem* s) noexcept {
  if (s == nullptr) {
    return XCORO_EINVAL;
  }
  if (in_root()) {
    return try_in_root([&] { return s->s.try_acquire(); });
  }
  return guarded("xcoro_sem_acquire", [&] {
    wait_count::hold h(s->waiting);
    return to_c(s->s.acquire().error());
  });
}

int xcoro_sem_try_acquire(xcoro_sem* s) noexcept {
  if (s == nullptr) {
    return XCORO_EINVAL;
  }
  return s->s.try_acquire() ? XCORO_OK : XCORO_EAGAIN;
}

int xcoro_sem_release(xcoro_sem* s, size_t n) noexcept {
  if (s == nullptr) {
    return XCORO_EINVAL;
  }
  s->s.release(n);
  return XCORO_OK;
}

size_t xcoro_sem_available(const xcoro_sem* s) noexcept {
  return s != nullptr ? s->s.available() : 0;
}

int xcoro_wg_create(xcoro_wait_group** out, xcoro_executor* ex) noexcept {
  return new_handle(out, "xcoro_wg_create", reinterpret_cast<executor*>(ex));
}

int xcoro_wg_destroy(xcoro_wait_group* wg) noexcept {
  return delete_unless_waited(wg);
}

int xcoro_wg_add(xcoro_wait_group* wg, size_t n) noexcept {
  if (wg == nullptr) {
    return XCORO_EINVAL;
  }
  wg->wg.add(n);
  return XCORO_OK;
}

int xcoro_wg_done(xcoro_wait_group* wg) noexcept {
  if (wg == nullptr || wg->wg.count() == 0) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_wg_done", [&] {
    wg->wg.done();
    return XCORO_OK;
  });
}

int xcoro_wg_wait(xcoro_wait_group* wg) noexcept {
  if (wg == nullptr) {
    return XCORO_EINVAL;
  }
  if (in_root()) {
    return try_in_root([&] { return wg->wg.count() == 0; });
  }
  return guarded("xcoro_wg_wait", [&] {
    wait_count::hold h(wg->waiting);
    return to_c(wg->wg.wait().error());
  });
}

size_t xcoro_wg_count(const xcoro_wait_group* wg) noexcept {
  return wg != nullptr ? wg->wg.count() : 0;
}

int xcoro_cancel(xcoro_coro* c) noexcept {
  if (c == nullptr) {
    return XCORO_EINVAL;
  }
  return cancel(to_coro(c)) ? 1 : 0;
}

int xcoro_cancel_requested(void) noexcept {
  return cancel_requested() ? 1 : 0;
}

void xcoro_shield_begin(void) noexcept {
  coro* self = detail::tls.running_coroutine();
  if (self == nullptr) {
    return;
  }
  guarded("xcoro_shield_begin", [&] {
    shield_list& l = shields();
    std::lock_guard<std::mutex> hold(l.lock);
    l.live.reserve(l.live.size() + 1);  // may throw: before the shield exists
    l.live.emplace_back(self, new cancel_shield());
    return XCORO_OK;
  });
}

int xcoro_shield_end(void) noexcept {
  coro* self = detail::tls.running_coroutine();
  if (self == nullptr) {
    return XCORO_OK;
  }
  cancel_shield* found = nullptr;
  {
    shield_list& l = shields();
    std::lock_guard<std::mutex> hold(l.lock);
    for (auto it = l.live.rbegin(); it != l.live.rend(); ++it) {
      if (it->first == self) {
        found = it->second;
        l.live.erase(std::next(it).base());
        break;
      }
    }
  }
  if (found == nullptr) {
    return XCORO_EINVAL;
  }
  delete found;  // outside the list's lock: ending a shield may cancel this coroutine's children
  return XCORO_OK;
}

int xcoro_group_create(xcoro_group** out) noexcept {
  return new_handle(out, "xcoro_group_create");
}

int xcoro_group_spawn(xcoro_group* g, int (*fn)(void*), void* arg, size_t stack_size) noexcept {
  if (g == nullptr || fn == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_group_spawn", [&] {
    result<void> r = g->g.spawn(stack_arg(stack_size), [fn, arg]() -> result<void> {
      int rc = fn(arg);
      if (rc < 0) {
        return from_c(rc);
      }
      return {};
    });
    return r ? XCORO_OK : to_c(r.error());
  });
}

int xcoro_group_wait(xcoro_group* g) noexcept {
  if (g == nullptr) {
    return XCORO_EINVAL;
  }
  // A child's exception is the group's first failure: wait() rethrows it, guarded
  // reports it and returns XCORO_EEXCEPTION.
  return guarded("xcoro_group_wait", [&] { return to_c(g->g.wait().error()); });
}

void xcoro_group_cancel(xcoro_group* g) noexcept {
  if (g != nullptr) {
    g->g.cancel();
  }
}

size_t xcoro_group_size(const xcoro_group* g) noexcept {
  return g != nullptr ? g->g.size() : 0;
}

int xcoro_group_destroy(xcoro_group* g) noexcept {
  if (g == nullptr) {
    return XCORO_OK;
  }
  g->g.cancel();
  int r = xcoro_group_wait(g);
  if (r == XCORO_EDEADLOCK) {
    return r;  // children still run and nothing here can finish them: keep the group
  }
  delete g;
  return XCORO_OK;
}

}  // extern "C"
