// task_group: the lists of running and finished children, a failure cancelling the
// siblings, wait(), and the destructor's cancel-and-join (docs/cancel.md, "task_group").
// Each child's storage carries the group's links (detail::group_child), so the group
// allocates nothing.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>

#include "xcoro/detail/shared_lock.hpp"
#include "xcoro/detail/wait_kind.hpp"
#include "xcoro/detail/wait_queue.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/scope.hpp"

namespace xcoro {
namespace {

using a = detail::coro_access;
using detail::group_child;

void push_front(group_child*& head, group_child* n) noexcept {
  n->prev = nullptr;
  n->next = head;
  if (head != nullptr) {
    head->prev = n;
  }
  head = n;
}

void unlink(group_child*& head, group_child* n) noexcept {
  if (n->prev != nullptr) {
    n->prev->next = n->next;
  } else {
    head = n->next;
  }
  if (n->next != nullptr) {
    n->next->prev = n->prev;
  }
  n->prev = n->next = nullptr;
}

/// Frees a child's storage and stack. Its coroutine has finished, or is to be dropped as a
/// frame_t drops one (coro_retire has run).
void free_child(group_child* n) noexcept {
  coro* c = n->c;
  n->destroy_storage(n);
  detail::coro_free(c);
}

/// Frees the finished children in `head` whose coroutines have left their stacks for good.
/// In a group shared between workers (`Shared`), only this thread's: another worker's
/// child is its worker's to free, and its status is not read here.
template <bool Shared>
void free_finished(group_child*& head) noexcept {
  for (group_child* n = head; n != nullptr;) {
    group_child* next = n->next;
    if ((!Shared || a::owner(n->c) == &detail::tls) && n->c->status() == status::done) {
      unlink(head, n);
      free_child(n);
    }
    n = next;
  }
}

/// Runs `f` holding `m`; kept out of line so that the unshared path of its caller stays
/// free of the lock's register saves.
template <class F>
[[gnu::noinline]] void locked(std::mutex& m, F&& f) noexcept {
  std::lock_guard g(m);
  f();
}

/// The job that frees a finished child of a shared group, on the child's worker: it runs
/// from that worker's executor, so after the child switched away from its stack for good.
void release_child(void* p) noexcept {
  free_child(static_cast<group_child*>(p));
}

/// One step of the env executor from root; of the whole loop when one drives it (an aio
/// executor's): a cancelled child waiting in an IO operation or a sleep is resumed by the
/// loop, which the plain executor cannot drive. False if nothing could make progress.
bool step_root_loop() {
  executor* ex = get_env().executor;
  return ex != nullptr && detail::executor_access::step(*ex);
}

const char* join_call(const void* ctx) noexcept {
  return static_cast<const char*>(ctx);
}
/// The wait of a join without an env executor (its context is the call's name). It cannot
/// be withdrawn, as wait() is not interrupted by a cancel; it is registered so that the
/// coroutine is known to wait in a blocking call, as one in xawait is.
constexpr detail::wait_kind join_kind{nullptr, &join_call};

/// Writes "coroutine 'name' (id N)" or "coroutine (id N)", as the abort messages name
/// coroutines; the child's record may be gone, so from its copied name and id.
void describe_child(char* out, std::size_t size, const char* name, std::uint64_t id) noexcept {
  if (name[0] == '\0') {
    std::snprintf(out, size, "coroutine (id %llu)", static_cast<unsigned long long>(id));
  } else {
    std::snprintf(out, size, "coroutine '%s' (id %llu)", name,
                  static_cast<unsigned long long>(id));
  }
}

void write_line(char* line, int n, std::size_t capacity) noexcept {
  if (n < 0) {
    return;
  }
  std::size_t len = static_cast<std::size_t>(n) < capacity ? static_cast<std::size_t>(n)
                                                            : capacity - 1;
  if (len > 0 && line[len - 1] != '\n') {
    line[len - 1] = '\n';  // truncated: still one whole line
  }
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

}  // namespace

// adopt, child_ended and release_finished run once per child: a group that is not shared
// (runtime_ null) takes a path of its own, without the lock, the owner test and the env
// lookup that only a shared group needs, so that a program without a runtime pays one
// predicted branch per call for the runtime's existence.

void task_group::adopt(group_child* n) noexcept {
  auto link = [](task_group& g, group_child* n) {
    push_front(g.running_, n);
    ++g.size_;
    if (g.cancelled_ || g.failed_) {
      xcoro::cancel(n->c);  // born cancelled: the group is stopping
    }
  };
  if (runtime_ == nullptr) [[likely]] {
    link(*this, n);
    return;
  }
  locked(mu_, [this, n, link] { link(*this, n); });
}

void task_group::child_ended(group_child* n, std::error_code ec, std::exception_ptr ep) noexcept {
  // Earlier finished children of this thread have switched away for good; this one still
  // runs on its stack until it returns to its starter, so it waits in the finished list.
  // In a shared group, a child is freed by its own thread (its stack allocator is that
  // thread's), or, if the group goes first, through its worker's executor (close()).
  auto end = []<bool Shared>(task_group& g, group_child* n, std::error_code ec,
                             std::exception_ptr& ep) {
    unlink(g.running_, n);
    --g.size_;
    free_finished<Shared>(g.finished_);
    if constexpr (Shared) {
      n->home = get_env().executor;
    }
    push_front(g.finished_, n);
    bool failed = ep != nullptr || (ec && ec != errc::canceled);
    if (failed && !g.failed_) [[unlikely]] {
      g.failed_ = true;
      g.error_ = ec;
      g.exception_ = std::move(ep);
      g.failed_id_ = n->c->id();
      std::string_view name = n->c->name();
      std::memcpy(g.failed_name_, name.data(), name.size());
      g.failed_name_[name.size()] = '\0';
      // Cancelling withdraws waits but resumes nobody here, so the list stays as it is.
      g.stop_children();
    }
    if (g.size_ == 0) {
      detail::signal_all(g.waiters_);
    }
  };
  if (runtime_ == nullptr) [[likely]] {
    end.template operator()<false>(*this, n, ec, ep);
    return;
  }
  locked(mu_, [this, n, ec, &ep, end] { end.template operator()<true>(*this, n, ec, ep); });
}

void task_group::release_finished() const noexcept {
  if (runtime_ == nullptr) [[likely]] {
    free_finished<false>(finished_);
    return;
  }
  locked(mu_, [this] { free_finished<true>(finished_); });
}

void task_group::free_finished_here() const noexcept {
  if (runtime_ == nullptr) {
    free_finished<false>(finished_);
  } else {
    free_finished<true>(finished_);
  }
}

void task_group::stop_children() noexcept {
  for (group_child* n = running_; n != nullptr; n = n->next) {
    xcoro::cancel(n->c);
  }
}

bool task_group::join(const char* call, bool may_throw) {
  detail::thread_state& t = detail::tls;
  coro* self = t.running_coroutine();
  if (self == nullptr) {
    for (;;) {
      {
        detail::shared_guard g(lock());
        if (size_ == 0) {
          return true;
        }
      }
      if (!step_root_loop()) {
        return false;
      }
    }
  }
  executor* ex = get_env().executor;
  for (;;) {
    // Declared first, so that the entry below leaves the queue under it.
    detail::shared_guard g(lock());
    if (size_ == 0) {
      return true;
    }
    // A plain waiter: a cancel of this coroutine does not withdraw it (docs/cancel.md).
    // Without an executor only a child returning to its starter (this coroutine, if it
    // spawned them) resumes it; each return is checked here. A shared group always has
    // one (its worker's), through which children on other workers wake it.
    std::optional<detail::waiter> w;
    std::optional<detail::wait_entry> e;
    struct registration {
      coro* c;
      ~registration() {
        if (c != nullptr) {
          a::end_wait(c);
        }
      }
    } reg{nullptr};
    if (ex != nullptr) {
      w.emplace(ex, call);
      w->lock = lock();
      e.emplace(*w);
      waiters_.push_back(*e);
    } else {
      a::begin_wait(self, &join_kind, const_cast<char*>(call));
      reg.c = self;
    }
    g.release();
    do {
      if (detail::suspend_to_resumer(t, call)) {
        g.reacquire();
        if (may_throw) {
          detail::throw_forced_unwind(self);  // as xsuspend does; e and w unlink themselves
        }
        return false;
      }
    } while (w ? !w->is_signalled() : size_ != 0);
    g.reacquire();
  }
}

result<void> task_group::wait() {
  check_thread("task_group::wait");
  release_finished();
  if (!join("task_group::wait", true)) {
    return errc::deadlock;
  }
  release_finished();
  std::error_code error;
  std::exception_ptr exception;
  bool failed;
  bool cancelled;
  {
    detail::shared_guard g(lock());
    failed = failed_;
    if (failed) {
      observed_ = true;
      error = error_;
      exception = exception_;
    }
    cancelled = cancelled_;
  }
  if (failed) {
#if defined(__cpp_exceptions)
    if (exception) {
      std::rethrow_exception(exception);
    }
#endif
    return error;
  }
  coro* self = detail::tls.running_coroutine();
  if (cancelled || (self != nullptr && a::cancel_pending(self))) {
    return errc::canceled;
  }
  return {};
}

void task_group::cancel() noexcept {
  check_thread("task_group::cancel");
  detail::shared_guard g(lock());
  cancelled_ = true;
  stop_children();
}

std::size_t task_group::size() const noexcept {
  check_thread("task_group::size");
  release_finished();
  detail::shared_guard g(lock());
  return size_;
}

void task_group::close(bool unwind) noexcept {
  check_thread("~task_group");
  bool running;
  {
    detail::shared_guard g(lock());
    running = size_ != 0;
    if (running) {
      stop_children();
    }
  }
  if (running) {
    coro* self = detail::tls.running_coroutine();
    // A coroutine being unwound by its destroyed frame_t, or drained (its frame_t was
    // destroyed without exceptions), cannot suspend to wait: nothing would resume it for
    // a child it did not start. Its children are retired directly below.
    if (self == nullptr || !(a::flags(self) & (detail::flag_unwind | detail::flag_drain))) {
      join("~task_group", false);
    }
    // What still runs can never finish: destroy it as a frame_t destroys its coroutine.
    // Unwinding a child ends its function, which takes it off the running list. Only
    // this thread's children can be destroyed here; one running on another worker of a
    // shared group, which could not be waited for, is refused by name.
    for (;;) {
      group_child* n;
      {
        detail::shared_guard g(lock());
        n = running_;
        if (n == nullptr) {
          break;
        }
        if (detail::coro_access::owner(n->c) != &detail::tls) {
          detail::fatal("~task_group", detail::tls.cur(),
                        "cannot wait for a child running on another worker (it is being "
                        "unwound or drained); wait() for the group before that");
        }
      }
      detail::coro_retire(n->c, unwind);
      detail::shared_guard g(lock());
      if (running_ == n) {
        unlink(running_, n);
        --size_;
        free_child(n);
      }
    }
  }
  detail::shared_guard g(lock());
  free_finished_here();
  // What is left of a shared group finished on other workers, which free it once it has
  // left its stack.
  while (group_child* n = runtime_ != nullptr ? finished_ : nullptr) {
    unlink(finished_, n);
    if (n->home == nullptr) {
      detail::fatal("~task_group", n->c,
                    "finished on a runtime's worker without an env executor to be freed "
                    "through");
    }
    n->release.fn = &release_child;
    n->release.userdata = n;
    n->home->run_soon(n->release);
  }
  if (!waiters_.idle()) {
    detail::fatal("~task_group", detail::tls.cur(),
                  "destroyed a task_group while another coroutine waits in its wait()");
  }
  if (!failed_ || observed_) {
    return;
  }
  char who[80];
  describe_child(who, sizeof who, failed_name_, failed_id_);
  char line[512];
  int n = 0;
  if (exception_) {
    const char* what = "an exception not derived from std::exception";
#if defined(__cpp_exceptions)
    try {
      std::rethrow_exception(exception_);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
    }
#endif
    n = std::snprintf(line, sizeof line,
                      "xcoro: ~task_group: %s ended with an exception that no wait() "
                      "observed: %s\n",
                      who, what);
  } else {
    n = std::snprintf(line, sizeof line,
                      "xcoro: ~task_group: %s returned an error that no wait() observed: "
                      "%s (%s:%d)\n",
                      who, error_.message().c_str(), error_.category().name(), error_.value());
  }
  write_line(line, n, sizeof line);
}

void task_group::check_other_thread(const char* call) const noexcept {
  if (runtime_ != nullptr && detail::tls.shared_lock == runtime_) {
    return;
  }
  detail::fatal(call, detail::tls.cur(),
                "used a task_group made on another thread (a group made outside a runtime "
                "belongs to its thread; one made on a worker, to that runtime's workers)");
}

}  // namespace xcoro
