// Whole-coroutine cancellation: the request flag in the coroutine record, its flow down the
// tree of coroutines a coroutine started, and withdrawing the wait each is suspended in
// through the wait kind it registered (docs/cancel.md).
#include "xcoro/scope.hpp"

#include "xcoro/detail/wait_kind.hpp"

namespace xcoro {
namespace {

using a = detail::coro_access;

/// Marks `c` cancelled. Unless a shield holds it back, makes it pending, withdraws the
/// wait it is suspended in (if that kind of wait can be withdrawn) and returns true: the
/// cancel goes on to the coroutines it started. A shielded coroutine keeps its subtree
/// until its last shield ends.
bool cancel_one(coro* c) noexcept {
  a::flags(c) |= detail::flag_cancel;
  if (a::shields(c) != 0) {
    return false;
  }
  a::flags(c) |= detail::flag_cancel_pending;
  const detail::wait_kind* k = a::waits_in(c);
  if (k != nullptr && k->withdraw != nullptr) {
    k->withdraw(a::wait_ctx(c));
  }
  return true;
}

/// Cancels `top` and, pre-order, the tree of unfinished coroutines it started (the starter
/// links that xasync keeps), not below a shielded one. Withdrawing a wait resumes nobody
/// here, so the tree does not change under the walk.
void cancel_tree(coro* top) noexcept {
  coro* c = top;
  for (;;) {
    if (cancel_one(c) && a::first_child(c) != nullptr) {
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

}  // namespace

bool cancel(frame f) noexcept {
  if (f == nullptr || f->status() == status::done || (a::flags(f) & detail::flag_root) ||
      (a::flags(f) & detail::flag_cancel)) {
    return false;
  }
  if (a::owner(f) != &detail::tls) {
    detail::fatal("cancel", f, "belongs to another thread");
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
    // The cancel held back here goes on now, to this coroutine and to what it started
    // (those started inside the shield were born uncancelled).
    a::flags(c_) |= detail::flag_cancel_pending;
    for (coro* k = a::first_child(c_); k != nullptr; k = a::next_sibling(k)) {
      cancel_tree(k);
    }
  }
}

}  // namespace xcoro
