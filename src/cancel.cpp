// Whole-coroutine cancellation: the request flag in the coroutine record, its flow down the
// tree of coroutines a coroutine started, and withdrawing the wait each is suspended in
// through the wait kind it registered (docs/cancel.md).
#include "xcoro/scope.hpp"

#include <cstdio>

#include "cancel_remote.hpp"
#include "xcoro/detail/wait_kind.hpp"

namespace xcoro {
namespace {

using a = detail::coro_access;

/// The coroutines `c` spawned onto a runtime run from their workers' roots, not in `c`'s
/// tree: a cancel reaches them through every worker (src/runtime.cpp).
void flow_to_spawned(coro* c) noexcept {
  if (a::spawned_any(c) && detail::post_cancel_spawned != nullptr) [[unlikely]] {
    detail::post_cancel_spawned(c, c->id());
  }
}

/// Marks `c` cancelled. Unless a shield holds it back (and `force` is false), makes it
/// pending, withdraws the wait it is suspended in (if that kind of wait can be withdrawn)
/// and returns true: the cancel goes on to the coroutines it started. A shielded coroutine
/// keeps its subtree until its last shield ends.
bool cancel_one(coro* c, bool force) noexcept {
  a::flags(c) |= detail::flag_cancel;
  if (a::shields(c) != 0 && !force) {
    return false;
  }
  a::flags(c) |= detail::flag_cancel_pending;
  const detail::wait_kind* k = a::waits_in(c);
  if (k != nullptr && k->withdraw != nullptr) {
    k->withdraw(a::wait_ctx(c));
  }
  flow_to_spawned(c);
  return true;
}

/// Cancels `top` and, pre-order, the tree of unfinished coroutines it started (the starter
/// links that xasync keeps), not below a shielded one. Withdrawing a wait resumes nobody
/// here, so the tree does not change under the walk.
void cancel_tree(coro* top, bool force = false) noexcept {
  coro* c = top;
  for (;;) {
    if (cancel_one(c, force) && a::first_child(c) != nullptr) {
      c = a::first_child(c);
      continue;
    }
    while (c != top && a::next_sibling(c) == nullptr) {
      c = a::starter(c);
    }
    if (c == top) {
      return;
    }
    c = a::next_sibling(c);
  }
}

enum class elsewhere { not_cancelled, cancelled, here };

/// A coroutine of another thread: posted to its runtime worker, which cancels it there if
/// it is still running (only its own thread may touch its waits and its tree).
elsewhere cancel_on_owner(coro* f) noexcept {
  detail::thread_state* owner = a::owner(f);
  if (owner == nullptr || owner->worker == nullptr || detail::post_cancel == nullptr) {
    detail::fatal("cancel", f, "belongs to another thread that is not a runtime's worker");
  }
  detail::post_cancel(owner->worker, f, f->id());
  return elsewhere::cancelled;
}

/// cancel() of a coroutine handed to another thread (runtime spawn), which may be running
/// there now; decided under the hand-off lock, which its adoption and completion take.
elsewhere cancel_handed_off(coro* f) noexcept {
  struct call {
    coro* f;
    elsewhere outcome;
  } c{f, elsewhere::here};
  detail::with_handoff_lock(
      f,
      [](void* p) noexcept {
        auto& c = *static_cast<call*>(p);
        if (a::finish_published(c.f)) {
          c.outcome = elsewhere::not_cancelled;
        } else if (a::owner(c.f) == nullptr) {
          // Not started yet: nothing runs it, and its adoption will see the flags.
          if (a::flags(c.f) & detail::flag_cancel) {
            c.outcome = elsewhere::not_cancelled;
          } else {
            a::flags(c.f) |= static_cast<std::uint8_t>(detail::flag_cancel |
                                                       detail::flag_cancel_pending);
            c.outcome = elsewhere::cancelled;
          }
        } else if (a::owner(c.f) != &detail::tls) {
          c.outcome = cancel_on_owner(c.f);
        }
      },
      &c);
  return c.outcome;
}

}  // namespace

namespace detail {
void (*post_cancel)(void* worker, coro* c, std::uint64_t id) noexcept = nullptr;
void (*post_cancel_spawned)(coro* spawner, std::uint64_t id) noexcept = nullptr;
}  // namespace detail

bool cancel(frame f) noexcept {
  if (f == nullptr) {
    return false;
  }
  if (a::handed_off(f)) [[unlikely]] {
    if (elsewhere e = cancel_handed_off(f); e != elsewhere::here) {
      return e == elsewhere::cancelled;
    }
  } else if (a::owner(f) != &detail::tls) [[unlikely]] {
    return cancel_on_owner(f) == elsewhere::cancelled;
  }
  if (f->status() == status::done || (a::flags(f) & detail::flag_root) ||
      (a::flags(f) & detail::flag_cancel)) {
    return false;
  }
  cancel_tree(f);
  return true;
}

bool cancel_requested() noexcept {
  coro* c = detail::tls.running_coroutine();
  return c != nullptr && (a::flags(c) & detail::flag_cancel);
}

cancel_shield::cancel_shield() noexcept : c_(detail::tls.running_coroutine()) {
  if (c_ != nullptr) {
    ++a::shields(c_);
    if (!(a::flags(c_) & detail::flag_drain)) {  // a drain overrides shields
      a::flags(c_) &= static_cast<std::uint8_t>(~detail::flag_cancel_pending);
    }
  }
}

cancel_shield::~cancel_shield() {
  if (c_ == nullptr) {
    return;
  }
  if (detail::tls.running_coroutine() != c_) {
    detail::fatal("~cancel_shield", detail::tls.cur(),
                  "destroys a shield that another coroutine created");
  }
  if (--a::shields(c_) == 0 && (a::flags(c_) & detail::flag_cancel)) {
    // The cancel held back here goes on now, to this coroutine and to what it started
    // (those started inside the shield were born uncancelled).
    a::flags(c_) |= detail::flag_cancel_pending;
    for (coro* k = a::first_child(c_); k != nullptr; k = a::next_sibling(k)) {
      cancel_tree(k);
    }
    flow_to_spawned(c_);
  }
}

namespace detail {

namespace {

/// An unfinished coroutine that `c` started and that waits in a blocking call, or nullptr.
coro* waiting_child(coro* c) noexcept {
  for (coro* k = a::first_child(c); k != nullptr; k = a::next_sibling(k)) {
    if (a::state(k) == status::suspended && a::waits_in(k) != nullptr) {
      return k;
    }
  }
  return nullptr;
}

[[noreturn]] void drain_stuck(coro* c, const char* how, const char* call) noexcept {
  char what[200];
  std::snprintf(what, sizeof what,
                "%s%s while it was being finished (its frame_t was destroyed, and without "
                "exceptions it is cancelled and resumed until it returns)",
                how, call);
  fatal("~frame_t", c, what);
}

}  // namespace

bool drain(coro* c) noexcept {
  if (a::waits_in(c) == nullptr) {
    return false;  // a plain xsuspend (a generator's yield): freed without unwinding
  }
  a::flags(c) |= flag_drain | flag_cancel_pending;
  cancel_tree(c, true);
  while (a::state(c) != status::done) {
    // What it waits for first: a coroutine it started that waits too (it may be in xawait
    // for it); that one is cancelled already.
    if (coro* k = waiting_child(c)) {
      drain(k);
      continue;
    }
    const wait_kind* kind = a::waits_in(c);
    if (kind == nullptr) {
      drain_stuck(c, "suspended in a plain xsuspend", "");
    }
    void* ctx = a::wait_ctx(c);
    // Withdrawn waits end when it runs (a waiter is signalled; an aio op sees flag_drain
    // and abandons itself); it comes back here when it suspends again or finishes, since
    // xresume made this coroutine its resumer and a drained coroutine finishes there.
    xresume(c);
    if (a::state(c) != status::done && a::waits_in(c) == kind && a::wait_ctx(c) == ctx &&
        kind->withdraw == nullptr && waiting_child(c) == nullptr) {
      drain_stuck(c, "kept waiting in ", kind->call(ctx));
    }
  }
  return true;
}

}  // namespace detail
}  // namespace xcoro
