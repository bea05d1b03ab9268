// Wait queues and waiters: the one mechanism behind channels, sync primitives and
// waiting for another coroutine's completion. See docs/executor.md.
#include "xcoro/detail/wait_queue.hpp"

#include <atomic>
#include <cstdio>

#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/detail/shared_lock.hpp"

namespace xcoro::detail {
void resume_waiter(void* p) {
  xresume(static_cast<waiter*>(p)->c);
}

wait_entry::~wait_entry() {
  if (queue != nullptr) {
    queue->remove(*this);
  }
  if (pending) {
    pending = false;
    --home->pending;
  }
}

void wait_queue::push_back(wait_entry& e) noexcept {
  e.queue = this;
  e.home = this;
  e.prev = tail;
  e.next = nullptr;
  if (tail != nullptr) {
    tail->next = &e;
  } else {
    head = &e;
  }
  tail = &e;
}

void wait_queue::remove(wait_entry& e) noexcept {
  if (e.prev != nullptr) {
    e.prev->next = e.next;
  } else {
    head = e.next;
  }
  if (e.next != nullptr) {
    e.next->prev = e.prev;
  } else {
    tail = e.prev;
  }
  e.prev = e.next = nullptr;
  e.queue = nullptr;
}

namespace {
// claim_first and wake_claimed, forced inline into signal_one and signal_all, which make
// one call per signal, as channels' hot paths want.
XCORO_WAIT_INLINE wait_entry* claim_head(wait_queue& q) noexcept {
  for (;;) {
    wait_entry* e = q.head;
    if (e == nullptr || claim(*e->owner)) [[likely]] {
      return e;
    }
    q.remove(*e);  // claimed through another queue, or withdrawn
  }
}

XCORO_WAIT_INLINE void wake(wait_entry& e) noexcept {
  waiter* w = e.owner;
  e.queue->remove(e);
  e.pending = true;
  ++e.home->pending;
  w->fired = e.index;
  w->ex->run_soon(w->wake);
}
}  // namespace

wait_entry* wait_queue::claim_first() noexcept {
  return claim_head(*this);
}

void object_lock::lock_contended() noexcept {
  // Held only while an object's queues change (and a wake-up is posted): spin on a load,
  // which keeps the line shared, for about as long as that takes, unless others sleep
  // already. Then sleep, marking the lock so that its unlock wakes a sleeper.
  for (int spins = 0; spins < 100; ++spins) {
    int s = state_.load(std::memory_order_relaxed);
    if (s == free && state_.compare_exchange_weak(s, held, std::memory_order_acquire)) {
      return;
    }
    if (s == held_with_sleepers) {
      break;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  // Taken as held_with_sleepers even if no one else sleeps: at worst one needless wake-up.
  while (state_.exchange(held_with_sleepers, std::memory_order_acquire) != free) {
    state_.wait(held_with_sleepers, std::memory_order_relaxed);
  }
}

void object_lock::wake_one() noexcept {
  state_.notify_one();
}

namespace {
const char* waiter_call(const void* ctx) noexcept {
  return static_cast<const waiter*>(ctx)->call;
}
void waiter_withdraw(void* ctx) noexcept {
  static_cast<waiter*>(ctx)->withdraw(withdrawn::canceled);
}
// xawait and task_group::wait are not interrupted by cancel; channels, select and the
// sync primitives are (docs/cancel.md).
constexpr wait_kind waiter_kind{nullptr, &waiter_call};
constexpr wait_kind cancellable_waiter_kind{&waiter_withdraw, &waiter_call};

void deadline_fired(deadline& d) noexcept {
  static_cast<waiter*>(d.ctx)->withdraw(withdrawn::timed_out);
}
}  // namespace

waiter::waiter(executor* e, const char* call_name) noexcept
    : waiter(e, call_name, &waiter_kind) {}

waiter::waiter(executor* e, const char* call_name, cancellable_t) noexcept
    : waiter(e, call_name, &cancellable_waiter_kind) {}

void waiter::withdraw(withdrawn reason) noexcept {
  // Without the object's lock: a select's objects have one each. A shared object's signal
  // may come from another worker at the same time; the claim decides (docs/runtime.md).
  if (!claim(*this)) {
    return;  // satisfied (or withdrawn) already: the call completes as it was going to
  }
  // Its entries stay linked until the wait returns and destroys them, under the objects'
  // locks; every queue skips the entries of a claimed waiter (wait_queue::claim_first).
  why = reason;
  ex->run_soon(wake);
}

std::error_code waiter::error() const noexcept {
  switch (why) {
    case withdrawn::no:
      break;
    case withdrawn::canceled:
      return errc::canceled;
    case withdrawn::timed_out:
      return std::make_error_code(std::errc::timed_out);
  }
  return {};
}

void waiter::wait_timed(std::int64_t at) {
  deadline d;
  d.at_ns = at;
  d.fire = &deadline_fired;
  d.ctx = this;
  armed_deadline armed(d, *ex, call, c);
  wait();
}

waiter::waiter(executor* e, const char* call_name, const wait_kind* kind) noexcept
    : ex(e), c(xframe()), call(call_name) {
  if (!in_coro()) {
    fatal(call, c, "would block in root; only a coroutine can wait");
  }
  if (ex == nullptr) {
    fatal(call, c,
          "has no executor to be woken through (set channel_options::executor or "
          "env::executor)");
  }
  if (executor_access::shared(*ex) && executor_access::foreign(*ex)) [[unlikely]] {
    // An unshared object (made outside the runtime) bound to another worker's executor:
    // its queues would be changed from two threads (docs/runtime.md, "Status").
    fatal(call, c,
          "waits on an object bound to another worker's executor; make it on a worker of "
          "the runtime to share it between workers");
  }
  wake.fn = &resume_waiter;
  wake.userdata = this;
  coro_access::begin_wait(c, kind, this);
}

waiter::~waiter() {
  if (wake.next != nullptr) {
    ex->cancel(wake);
  }
  if (coro_access::wait_ctx(c) == this) {
    coro_access::end_wait(c);
  }
}

void wake_claimed(wait_entry& e) noexcept {
  wake(e);
}

wait_entry* signal_one(wait_queue& q) noexcept {
  wait_entry* e = claim_head(q);
  if (e != nullptr) {
    wake(*e);
  }
  return e;
}

void signal_all(wait_queue& q) noexcept {
  while (wait_entry* e = claim_head(q)) {
    wake(*e);
  }
}

}  // namespace xcoro::detail

namespace xcoro::detail {

xcoro::executor* default_executor(xcoro::executor* given) noexcept {
  return given != nullptr ? given : get_env().executor;
}

void describe(char* out, std::size_t size, const coro* c) noexcept;  // src/coro.cpp
[[noreturn]] void fatal_plain(const char* what) noexcept;              // src/coro.cpp

void fatal_destroyed_busy(const char* what) noexcept {
  // The waiters cannot be named from here (signalled ones are in no queue any more); the
  // coroutine running the destructor can.
  char who[80];
  describe(who, sizeof who, xframe());
  char message[176];
  std::snprintf(message, sizeof message,
                "~%s: destroyed while coroutines still wait on it (destroyed by %s)", what, who);
  fatal_plain(message);
}

}  // namespace xcoro::detail
