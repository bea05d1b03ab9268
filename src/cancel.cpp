// Whole-coroutine cancellation: the request flag in the coroutine record, its flow down the
// tree of coroutines a coroutine started, and withdrawing the wait each is suspended in
// through the wait kind it registered (docs/cancel.md).
#include "xcoro/scope.hpp"

#include "xcoro/detail/wait_kind.hpp"

namespace xcoro {
namespace {

using a = detail::coro_access;

/// Marks `c` cancelled and, unless a shield holds it back, withdraws the wait it is
/// suspended in, if that kind of wait can be withdrawn.
void cancel_one(coro* c) noexcept {
  a::flags(c) |= detail::flag_cancel;
  if (a::shields(c) != 0) {
    return;  // the last shield's end makes it pending
  }
  a::flags(c) |= detail::flag_cancel_pending;
  const detail::wait_kind* k = a::waits_in(c);
  if (k != nullptr && k->withdraw != nullptr) {
    k->withdraw(a::wait_ctx(c));
  }
}

}  // namespace

bool cancel(frame f) noexcept {
  if (f == nullptr || f->status() == status::done || (a::flags(f) & detail::flag_root) ||
      (a::flags(f) & detail::flag_cancel)) {
    return false;
  }
  // Pre-order over the tree of unfinished coroutines that f started (the starter links
  // that xasync keeps). Withdrawing a wait resumes nobody here, so the tree does not change
  // under the walk.
  coro* c = f;
  for (;;) {
    if (!(a::flags(c) & detail::flag_cancel) || c == f) {
      cancel_one(c);
    }
    if (coro* child = a::first_child(c)) {
      c = child;
      continue;
    }
    while (c != f && a::next_sibling(c) == nullptr) {
      c = a::starter(c);
    }
    if (c == f) {
      return true;
    }
    c = a::next_sibling(c);
  }
}

bool cancel_requested() noexcept {
  coro* c = detail::tls.running_coroutine();
  return c != nullptr && (a::flags(c) & detail::flag_cancel);
}

cancel_shield::cancel_shield() noexcept : c_(detail::tls.running_coroutine()) {
  if (c_ != nullptr) {
    ++a::shields(c_);
    a::flags(c_) &= static_cast<std::uint8_t>(~detail::flag_cancel_pending);
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
    a::flags(c_) |= detail::flag_cancel_pending;
  }
}

}  // namespace xcoro
