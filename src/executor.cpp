// The FIFO executor. A queued node's `next` is never nullptr (the last one points at a
// sentinel), which is how a second run_soon of the same node is caught. A runtime's worker
// executor also has an inbox that other threads post to (docs/runtime.md, "Wake-ups").
#include "xcoro/executor.hpp"

#include <atomic>

#include "xcoro/coro.hpp"
#include "xcoro/detail/wait_queue.hpp"
#include "xcoro/trace.hpp"

namespace xcoro {
namespace {

executor::func end_of_queue;

executor::func* const queued_last = &end_of_queue;

}  // namespace

namespace detail {

/// Where threads other than the owner queue work: a lock-free stack of nodes (newest first,
/// the oldest pointing at queued_last) that the owner takes whole and reverses, so the
/// order of one thread's posts is kept. `parked` is the owner's announcement that it is
/// about to block; a poster that sees it calls `wake`, once per park.
struct executor_inbox {
  const thread_state* owner = nullptr;
  std::atomic<executor::func*> head{nullptr};
  std::atomic<int> parked{0};
  void (*wake)(void*) = nullptr;
  void* ctx = nullptr;
};

namespace {

/// run_soon from a thread that is not the owner: push, then wake the owner if it parked.
/// False if the caller is the owner (the plain queue serves it).
bool post(executor_inbox& in, executor::func& f) noexcept {
  if (in.owner == &tls) {
    return false;
  }
  executor::func* old = in.head.load(std::memory_order_relaxed);
  do {
    f.next = old != nullptr ? old : queued_last;
  } while (!in.head.compare_exchange_weak(old, &f, std::memory_order_release,
                                          std::memory_order_relaxed));
  // With the fence in park(), a Dekker pair: either the owner's second look at the inbox
  // sees this node, or this load sees its announcement. Written with seq_cst accesses
  // instead of fences, the pair lost wake-ups in the aarch64 CI run (qemu-user on an
  // x86-64 host); with the fences it has not.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (in.parked.load(std::memory_order_relaxed) != 0 &&
      in.parked.exchange(0, std::memory_order_acq_rel) != 0) {
    in.wake(in.ctx);
  }
  return true;
}

}  // namespace

void executor_access::share(xcoro::executor& e, void (*wake)(void*), void* ctx) {
  auto* in = new executor_inbox;
  in->owner = &tls;
  in->wake = wake;
  in->ctx = ctx;
  e.inbox_ = in;
}

void executor_access::unshare(xcoro::executor& e) noexcept {
  take_posted(e);
  delete e.inbox_;
  e.inbox_ = nullptr;
}

// Out of line, as post: run_soon and tick, which call them only for a runtime's worker,
// must not pay their register saves on every call.
[[gnu::noinline]] void executor_access::take_posted(xcoro::executor& e) noexcept {
  executor_inbox* in = e.inbox_;
  if (in == nullptr || in->head.load(std::memory_order_relaxed) == nullptr) {
    return;
  }
  executor::func* p = in->head.exchange(nullptr, std::memory_order_acquire);
  // Reverse into FIFO order, then append to the ready queue.
  executor::func* first = nullptr;
  executor::func* last = p;
  while (p != queued_last) {
    executor::func* next = p->next;
    p->next = first != nullptr ? first : queued_last;
    first = p;
    p = next;
  }
  if (e.tail_ == nullptr) {
    e.head_ = first;
  } else {
    e.tail_->next = first;
  }
  e.tail_ = last;
}

[[gnu::noinline]] void executor_access::run_soon_shared(xcoro::executor& e,
                                                       xcoro::executor::func& f) noexcept {
  if (post(*e.inbox_, f)) {
    return;
  }
  f.next = queued_last;
  if (e.tail_ == nullptr) {
    e.head_ = &f;
  } else {
    e.tail_->next = &f;
  }
  e.tail_ = &f;
}

bool executor_access::park(xcoro::executor& e) noexcept {
  executor_inbox* in = e.inbox_;
  in->parked.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // see post()
  return in->head.load(std::memory_order_relaxed) == nullptr;
}

void executor_access::unpark(xcoro::executor& e) noexcept {
  e.inbox_->parked.store(0, std::memory_order_relaxed);
}

bool executor_access::foreign(const xcoro::executor& e) noexcept {
  return e.inbox_ != nullptr && e.inbox_->owner != &tls;
}

bool executor_access::has_posted(const xcoro::executor& e) noexcept {
  return e.inbox_ != nullptr && e.inbox_->head.load(std::memory_order_acquire) != nullptr;
}

}  // namespace detail

executor::~executor() {
  delete inbox_;
  if (detail::tls.report_unfinished) {
    report_unfinished(stderr);
  }
}

void executor::run_soon(func& f) {
  if (f.next != nullptr) {
    detail::fatal("run_soon", xframe(), "queued an executor::func that is already queued");
  }
  if (inbox_ != nullptr) [[unlikely]] {
    // A tail call: the common path keeps no registers alive across a call.
    detail::executor_access::run_soon_shared(*this, f);
    return;
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
  if (inbox_ != nullptr) [[unlikely]] {
    detail::executor_access::take_posted(*this);
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
  detail::executor_access::take_posted(*this);  // a node another thread posted is unlinked here
  return unlink(head_, &tail_, f) || unlink(running_, nullptr, f);
}

}  // namespace xcoro
