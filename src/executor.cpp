// The FIFO executor. A queued node's `next` is never nullptr (the last one points at a
// sentinel), which is how a second run_soon of the same node is caught.
#include "xcoro/executor.hpp"

#include "xcoro/coro.hpp"
#include "xcoro/detail/wait_queue.hpp"
#include "xcoro/trace.hpp"

namespace xcoro {
namespace {

executor::func end_of_queue;

executor::func* const queued_last = &end_of_queue;

}  // namespace

executor::~executor() {
  if (detail::tls.report_unfinished) {
    report_unfinished(stderr);
  }
}

void executor::run_soon(func& f) {
  if (f.next != nullptr) {
    detail::fatal("run_soon", xframe(), "queued an executor::func that is already queued");
  }
  f.next = queued_last;
  if (tail_ == nullptr) {
    head_ = &f;
  } else {
    tail_->next = &f;
  }
  tail_ = &f;
}

bool executor::tick() {
  if (ticking_) {
    detail::fatal("executor::tick", xframe(), "called tick() from inside tick()");
  }
  if (head_ == nullptr) {
    return false;
  }
  running_ = head_;
  head_ = tail_ = nullptr;
  ticking_ = true;
#if defined(__cpp_exceptions)
  try {
#endif
    while (running_ != queued_last) {
      func* f = running_;
      running_ = f->next;
      f->next = nullptr;  // before fn: it may queue or free its own node
      if (f->fn == &detail::resume_waiter) {
        // A woken coroutine (the common case): resume it here rather than through a call,
        // whose return would mispredict after the switch.
        xresume(static_cast<detail::waiter*>(f->userdata)->c);
      } else {
        f->fn(f->userdata);
      }
    }
#if defined(__cpp_exceptions)
  } catch (...) {
    // Put what the snapshot has not run yet back at the front, so no node stays marked
    // as queued while being in no list.
    if (running_ != queued_last) {
      func* last = running_;
      while (last->next != queued_last) {
        last = last->next;
      }
      if (head_ != nullptr) {
        last->next = head_;
      } else {
        tail_ = last;
      }
      head_ = running_;
    }
    running_ = nullptr;
    ticking_ = false;
    throw;
  }
#endif
  running_ = nullptr;
  ticking_ = false;
  return true;
}

namespace {

/// Unlinks `f` from the chain starting at `head` (ending in queued_last); updates `tail`
/// if given. Returns whether it was there.
bool unlink(executor::func*& head, executor::func** tail, executor::func& f) noexcept {
  executor::func* prev = nullptr;
  for (executor::func* p = head; p != nullptr && p != queued_last; prev = p, p = p->next) {
    if (p != &f) {
      continue;
    }
    if (prev == nullptr) {
      head = f.next == queued_last && tail != nullptr ? nullptr : f.next;
    } else {
      prev->next = f.next;
    }
    if (tail != nullptr && *tail == &f) {
      *tail = prev;
    }
    f.next = nullptr;
    return true;
  }
  return false;
}

}  // namespace

bool executor::cancel(func& f) noexcept {
  if (f.next == nullptr) {
    return false;
  }
  return unlink(head_, &tail_, f) || unlink(running_, nullptr, f);
}

}  // namespace xcoro
