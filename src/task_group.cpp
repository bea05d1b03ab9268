// task_group: the lists of running and finished children, a failure cancelling the
// siblings, wait(), and the destructor's cancel-and-join (docs/cancel.md, "task_group").
// Each child's storage carries the group's links (detail::group_child), so the group
// allocates nothing.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>

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

void task_group::adopt(group_child* n) noexcept {
  push_front(running_, n);
  ++size_;
  if (cancelled_ || failed_) {
    xcoro::cancel(n->c);  // born cancelled: the group is stopping
  }
}

void task_group::child_ended(group_child* n, std::error_code ec, std::exception_ptr ep) noexcept {
  unlink(running_, n);
  --size_;
  // Earlier finished children have switched away for good; this one still runs on its
  // stack until it returns to its starter, so it waits in the finished list.
  release_finished();
  push_front(finished_, n);
  bool failed = ep != nullptr || (ec && ec != errc::canceled);
  if (failed && !failed_) {
    failed_ = true;
    error_ = ec;
    exception_ = std::move(ep);
    failed_id_ = n->c->id();
    std::string_view name = n->c->name();
    std::memcpy(failed_name_, name.data(), name.size());
    failed_name_[name.size()] = '\0';
    // Cancelling withdraws waits but resumes nobody here, so the list stays as it is.
    stop_children();
  }
  if (size_ == 0) {
    detail::signal_all(waiters_);
  }
}

void task_group::release_finished() const noexcept {
  for (group_child* n = finished_; n != nullptr;) {
    group_child* next = n->next;
    if (n->c->status() == status::done) {
      unlink(finished_, n);
      free_child(n);
    }
    n = next;
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
    while (size_ != 0) {
      if (!step_root_loop()) {
        return false;
      }
    }
    return true;
  }
  executor* ex = get_env().executor;
  while (size_ != 0) {
    // A plain waiter: a cancel of this coroutine does not withdraw it (docs/cancel.md).
    // Without an executor only a child returning to its starter (this coroutine, if it
    // spawned them) resumes it; each return is checked here.
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
      e.emplace(*w);
      waiters_.push_back(*e);
    } else {
      a::begin_wait(self, &join_kind, const_cast<char*>(call));
      reg.c = self;
    }
    do {
      if (detail::suspend_to_resumer(t, call)) {
        if (may_throw) {
          detail::throw_forced_unwind(self);  // as xsuspend does; e and w unlink themselves
        }
        return false;
      }
    } while (w ? !w->signalled : size_ != 0);
  }
  return true;
}

result<void> task_group::wait() {
  check_thread("task_group::wait");
  release_finished();
  if (!join("task_group::wait", true)) {
    return errc::deadlock;
  }
  release_finished();
  if (failed_) {
    observed_ = true;
#if defined(__cpp_exceptions)
    if (exception_) {
      std::rethrow_exception(exception_);
    }
#endif
    return error_;
  }
  coro* self = detail::tls.running_coroutine();
  if (cancelled_ || (self != nullptr && a::cancel_pending(self))) {
    return errc::canceled;
  }
  return {};
}

void task_group::cancel() noexcept {
  check_thread("task_group::cancel");
  cancelled_ = true;
  stop_children();
}

std::size_t task_group::size() const noexcept {
  check_thread("task_group::size");
  release_finished();
  return size_;
}

void task_group::close(bool unwind) noexcept {
  check_thread("~task_group");
  if (size_ != 0) {
    stop_children();
    coro* self = detail::tls.running_coroutine();
    // A coroutine being unwound by its destroyed frame_t, or drained (its frame_t was
    // destroyed without exceptions), cannot suspend to wait: nothing would resume it for
    // a child it did not start. Its children are retired directly below.
    if (self == nullptr || !(a::flags(self) & (detail::flag_unwind | detail::flag_drain))) {
      join("~task_group", false);
    }
    // What still runs can never finish: destroy it as a frame_t destroys its coroutine.
    // Unwinding a child ends its function, which moves it to the finished list.
    while (running_ != nullptr) {
      group_child* n = running_;
      detail::coro_retire(n->c, unwind);
      if (running_ == n) {
        unlink(running_, n);
        --size_;
        free_child(n);
      }
    }
  }
  release_finished();
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

void task_group::wrong_thread(const char* call) noexcept {
  detail::fatal(call, detail::tls.cur(),
                "used a task_group made on another thread (a group belongs to the thread, or "
                "runtime worker, that made it)");
}

}  // namespace xcoro
