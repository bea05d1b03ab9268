// Structured concurrency: cancelling a whole coroutine and what it started, holding a cancel
// back, task_group, a scope that owns the coroutines started through it, and with_timeout,
// one deadline over everything a function does. docs/cancel.md has the design.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <new>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include "xcoro/coro.hpp"
#include "xcoro/detail/deadline.hpp"
#include "xcoro/detail/frame_storage.hpp"
#include "xcoro/detail/shared_lock.hpp"
#include "xcoro/detail/wait_list.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"

namespace xcoro {

/// Requests that `f` stop, and with it, transitively, every unfinished coroutine it
/// started (with xasync, or task_group::spawn). From then on the blocking calls of those
/// coroutines that honour cancellation return at once with errc::canceled, including the
/// one each is suspended in now (which resumes later, through its loop or executor, never
/// inside this call). These are the aio operations and aio::sleep, channel::send and
/// channel::recv (which returns std::nullopt: check cancel_requested()), select,
/// mutex::lock, semaphore::acquire and wait_group::wait. xawait, xawait_all/any and
/// task_group::wait are not interrupted: they return once the (cancelled) children finish.
/// The request is level-triggered: it stays until the coroutine finishes. A coroutine
/// suspended in a plain xsuspend is not woken, and code that never suspends is never
/// interrupted. Returns false if `f` is null, finished, or already cancelled.
/// Call it from any coroutine of f's thread, or from root. In a runtime, any thread may
/// cancel a coroutine of a worker: the request is posted to that worker, which cancels
/// it there if it still runs; true then means the request was sent.
XCORO_EXPORT bool cancel(frame f) noexcept;

/// Whether a cancel was requested for the running coroutine (also inside a
/// cancel_shield); false in root.
XCORO_EXPORT bool cancel_requested() noexcept;

/// Holds a cancel back: while one lives, the running coroutine's blocking calls behave as
/// if no cancel was requested, and a cancel that arrives does not interrupt the call it
/// waits in. The request is seen again at the first blocking call after the last shield of
/// the coroutine is gone. Shields nest. The coroutines it starts meanwhile are not born
/// cancelled, and a cancel stops at it rather than reaching the coroutines it started: they
/// are cancelled when its last shield ends, if still running. Create and destroy it in the
/// same coroutine; in root it does nothing.
class XCORO_EXPORT cancel_shield {
 public:
  cancel_shield() noexcept;
  ~cancel_shield();
  cancel_shield(const cancel_shield&) = delete;
  cancel_shield& operator=(const cancel_shield&) = delete;

 private:
  coro* c_;
};

class task_group;

namespace detail {

template <class T>
inline constexpr bool is_result = false;
template <class T>
inline constexpr bool is_result<result<T>> = true;

/// The part of a task_group child's storage that the group's compiled code reads: its
/// coroutine and the links of the group's lists. It sits first in the storage, where a
/// frame_t keeps its own (below the record on the child's stack), so the group allocates
/// nothing per child. Its layout does not depend on exceptions being enabled, so the
/// library and code built with -fno-exceptions agree on it.
struct group_child {
  coro* c = nullptr;
  task_group* group = nullptr;
  group_child* prev = nullptr;
  group_child* next = nullptr;
  void (*destroy_storage)(group_child*) noexcept = nullptr;  // destroys the whole storage
  // A finished child of a group shared between a runtime's workers that its own worker
  // has not freed when the group goes is freed by this job, queued on that worker's
  // executor (`home`), which runs it once the child has left its stack.
  executor::func release;
  executor* home = nullptr;
};

/// The tag of a task_group child's storage: no frame_t type matches it, so xyield in a
/// child aborts with a message, as in any coroutine that is not a generator.
inline constexpr char group_child_tag[] = "xcoro::task_group child";

template <class Fn, class... Args>
struct group_child_storage;
}  // namespace detail

/// A scope that owns the coroutines started through it (its children): spawn starts one,
/// wait() waits for all, and the destructor cancels and joins those still running, so that
/// no child outlives the group. A child that fails (ends with an exception, or returns a
/// result<T> holding an error other than errc::canceled) cancels its siblings, and wait()
/// reports that first failure. Non-copyable and non-movable. A group made outside a
/// runtime belongs to the thread that made it: use it from root or any coroutine of that
/// thread. A group made on a runtime's worker is shared by all the workers of that
/// runtime: any of their coroutines may spawn into it, wait for it, cancel it or destroy
/// it; a child runs on the worker that spawned it, and is freed there. A call from any
/// other thread aborts with a message naming the call and the caller.
///
/// Memory: the group keeps each child's stack until the child finishes and lets go of it
/// soon after (the next time a child finishes or the group is used; a stack cannot be freed
/// while its coroutine still runs on it), so a group that spawns a child per connection
/// holds memory for the live ones only. The group itself allocates nothing.
class XCORO_EXPORT task_group {
 public:
  /// An empty group.
  task_group() noexcept : owner_(&detail::tls), runtime_(detail::tls.shared_lock) {}
  /// Cancels the children still running and waits until they have finished: in a
  /// coroutine it suspends, woken as wait() is; in root it runs the env executor's loop
  /// (the aio loop when the env executor is aio's). In two cases it cannot wait, and
  /// destroys the unfinished children as a frame_t destroys its coroutine (unwinding them
  /// where exceptions exist): in root when nothing can make progress any more, and in a
  /// coroutine that a destroyed frame_t is unwinding. (A child that never finishes, e.g.
  /// one in a plain xsuspend that nothing resumes, keeps a coroutine waiting here, as
  /// xawait would.) A failure that no wait() returned is printed as one line on stderr,
  /// naming the child:
  /// "xcoro: ~task_group: coroutine 'name' (id N) ended with an exception that no wait()
  /// observed: <what()>" (or "returned an error ...: <message>"). Aborts if another
  /// coroutine still waits in this group's wait().
  ~task_group() { close(detail::unwind_on_destroy); }
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  /// Starts `f(args...)` as a child of the group, as xasync does: it runs at once, up to
  /// its first suspend or its end, started by the calling coroutine (so a cancel of the
  /// caller reaches it). The decayed callable and arguments are stored by value on the
  /// child's stack and destroyed when it finishes; its return value is dropped (a
  /// result<T> is first checked for an error). A child spawned into a group that was
  /// cancelled or has failed is born cancelled. Returns success once the child has started
  /// (whatever it then did); errors: those of xasync (errc::stack_too_small, the stack
  /// allocator's error), with nothing started.
  template <class F, class... Args>
    requires detail::async_callable<F, Args...>
  result<void> spawn(F&& f, Args&&... args) {
    return spawn(stack_arg(), std::forward<F>(f), std::forward<Args>(args)...);
  }
  /// spawn on the given stack (see stack_arg).
  template <class F, class... Args>
    requires detail::async_callable<F, Args...>
  result<void> spawn(stack_arg stack, F&& f, Args&&... args);

  /// Waits until every child has finished, then rethrows the first exception a child
  /// ended with, or returns the first error a child returned in a result<T> (errc::canceled
  /// excepted), whichever came first; else errc::canceled if cancel() was called or the
  /// coroutine calling wait() was cancelled (and not shielded); else success. Returns at
  /// once when no child runs. Calling it again returns the same. Not interrupted by a
  /// cancel of the waiting coroutine: it returns once the cancelled children finish.
  /// In a coroutine it suspends and is woken through the env executor (without one, only a
  /// child it started, returning to it, wakes it); in root it runs the env executor's loop
  /// as the destructor does, and returns errc::deadlock, children still running, if nothing
  /// can make progress.
  result<void> wait();

  /// Cancels every child still running (xcoro::cancel on each) and the children spawned
  /// from now on; wait() then returns errc::canceled unless a child failed first.
  void cancel() noexcept;

  /// How many children have not finished yet.
  std::size_t size() const noexcept;

 private:
  template <class Fn, class... Args>
  friend struct detail::group_child_storage;

  /// Links a created, unstarted child into the running list; cancels it if the group stops.
  void adopt(detail::group_child* n) noexcept;
  /// Called on the child's own stack when its function has ended (or was unwound): `ec` is
  /// the error of a result<T> it returned, `ep` the exception it ended with.
  void child_ended(detail::group_child* n, std::error_code ec, std::exception_ptr ep) noexcept;
  /// Frees the finished children whose coroutines no longer run, of this thread.
  void release_finished() const noexcept;
  /// release_finished with the group's lock held.
  void free_finished_here() const noexcept;
  /// Cancels every running child.
  void stop_children() noexcept;
  /// Waits until no child runs, as wait() describes. False if it cannot: in root nothing
  /// can make progress; in a coroutine its frame_t started unwinding it (then, if
  /// `may_throw`, forced_unwind is thrown instead).
  bool join(const char* call, bool may_throw);
  /// The destructor's work; `unwind`: whether the user's code has exceptions.
  void close(bool unwind) noexcept;
  /// Aborts, naming `call` and the caller, unless called on the group's own thread or,
  /// for a group made on a runtime's worker, on a worker of that runtime.
  void check_thread(const char* call) const noexcept {
    if (owner_ != &detail::tls) [[unlikely]] {
      check_other_thread(call);
    }
  }
  /// check_thread on a thread other than the group's: returns on another worker of the
  /// group's runtime, else aborts. Out of line, to keep spawn small enough to inline.
  void check_other_thread(const char* call) const noexcept;
  /// The group's lock if it is shared between workers; nullptr otherwise.
  std::mutex* lock() const noexcept { return runtime_ != nullptr ? &mu_ : nullptr; }

  detail::group_child* running_ = nullptr;  // children that have not finished
  mutable detail::group_child* finished_ = nullptr;  // finished, stack not yet freed
  std::size_t size_ = 0;                    // length of running_
  detail::wait_queue waiters_;              // coroutines in wait()
  std::error_code error_;                   // the first failure: an error, or
  std::exception_ptr exception_;            // an exception (present without exceptions
                                            // too, so the layout does not depend on them)
  std::uint64_t failed_id_ = 0;             // the child that failed first, for the report
  char failed_name_[detail::max_name_length + 1] = {};
  bool failed_ = false;                     // a child failed
  bool observed_ = false;                   // wait() returned the failure
  bool cancelled_ = false;                  // cancel() was called
  const detail::thread_state* owner_;       // the thread that made the group
  // Made on a runtime's worker: that runtime (its shared lock's address, which identifies
  // it), and the lock every change of the group's state takes. nullptr elsewhere.
  const void* runtime_;
  mutable std::mutex mu_;
};

namespace detail {

/// A task_group child's storage: the group's links, then the decayed callable and its
/// arguments. Unlike frame_storage it keeps no return value: the group only needs to know
/// whether the child failed.
template <class Fn, class... Args>
struct group_child_storage final : group_child, frame_storage_base {
  using call_type = std::tuple<Fn, Args...>;
  using result_type = std::invoke_result_t<Fn, Args...>;
  manual<call_type> call;

  void destroy_call() noexcept {
    if (this->slots & slot_call) {
      this->slots &= static_cast<std::uint8_t>(~slot_call);
      call.destroy();
    }
  }

  static void destroy_all(group_child* n) noexcept {
    auto* s = static_cast<group_child_storage*>(n);
    s->destroy_call();
    s->~group_child_storage();
  }

  /// Calls the function; sets `failure` to the error of a result<T> it returned.
  void invoke(std::error_code& failure) {
    auto fn = [](auto&&... a) -> result_type { return std::invoke(std::move(a)...); };
    if constexpr (is_result<std::remove_cv_t<result_type>>) {
      result_type r = std::apply(fn, std::move(call.get()));
      failure = r.error();
    } else {
      (void)std::apply(fn, std::move(call.get()));
    }
  }

  /// The child's body: runs on its own stack, never lets an exception escape, and tells
  /// the group last, once the callable and arguments are destroyed.
  static void run(coro* c) noexcept {
    auto* s = static_cast<group_child_storage*>(coro_access::frame(c));  // from its second base
    std::error_code ec;
    std::exception_ptr ep;
#if defined(__cpp_exceptions)
    try {
#endif
      // Not `ec = s->invoke()`: GCC 12's dead store elimination takes a call whose result
      // lands in `ec` for a store that kills ec's initialisation, though the call can
      // throw, and the handlers below then passed child_ended an uninitialised error_code
      // (a garbage category; it crashed on aarch64). The handlers also reset it.
      s->invoke(ec);
#if defined(__cpp_exceptions)
    } catch (const xcoro::forced_unwind&) {
      // The group is destroying a child that could not finish: nothing to report.
      ec = {};
    } catch (...) {
      ec = {};
      ep = std::current_exception();
    }
#endif
    s->destroy_call();
    s->group->child_ended(static_cast<group_child*>(s), ec, std::move(ep));
  }
};

}  // namespace detail

// inline: as a template alone, GCC weighs it as a function nobody asked to inline, and a
// caller's loop of spawns paid a call and an out-of-line xresume per child.
template <class F, class... Args>
  requires detail::async_callable<F, Args...>
inline result<void> task_group::spawn(stack_arg stack, F&& f, Args&&... args) {
  using S = detail::group_child_storage<std::decay_t<F>, std::decay_t<Args>...>;
  check_thread("task_group::spawn");
  release_finished();
  std::error_code ec;
  detail::created made = detail::coro_create(stack, sizeof(S), alignof(S), &S::run, ec);
  if (made.c == nullptr) {
    return ec;
  }
  S* s = ::new (made.storage) S;
  s->tag = detail::group_child_tag;
#if defined(__cpp_exceptions)
  try {
#endif
    s->call.emplace(std::forward<F>(f), std::forward<Args>(args)...);
#if defined(__cpp_exceptions)
  } catch (...) {
    S::destroy_all(s);
    detail::coro_free(made.c);
    throw;
  }
#endif
  s->slots |= detail::slot_call;
  s->destroy_storage = &S::destroy_all;
  s->c = made.c;
  s->group = this;
  detail::a_::frame(made.c) = static_cast<detail::frame_storage_base*>(s);
  adopt(s);
  // xresume's first-resume case, called directly: its inline fast path never applies to a
  // coroutine that has not started.
  detail::thread_state& t = detail::tls;
  detail::resume_slow(t, t.cur(), made.c);
  return {};
}

namespace detail {

/// with_timeout's deadline: armed on the clock of the env executor's loop, it cancels
/// `child` when it fires. Aborts naming with_timeout if there is no such clock.
class XCORO_EXPORT timeout_guard {
 public:
  timeout_guard(std::int64_t at, coro* child);
  ~timeout_guard();
  timeout_guard(const timeout_guard&) = delete;
  timeout_guard& operator=(const timeout_guard&) = delete;
  /// Whether the deadline came (and cancelled the child).
  bool fired() const noexcept { return fired_; }

 private:
  static void fire(deadline& d) noexcept;

  deadline d_;
  deadline_clock* clock_ = nullptr;
  coro* child_;
  bool fired_ = false;
};

/// Waits until `c` is done: as xawait in a coroutine; in root by stepping the env
/// executor's loop. False if nothing could make progress first (root only).
XCORO_EXPORT bool join_anywhere(coro* c);

}  // namespace detail

/// Runs `f(args...)` as a child coroutine (started at once, as xasync does) and cancels it,
/// with everything it started, when `timeout` has passed: one deadline over a whole
/// exchange, however many calls it makes. Returns std::errc::timed_out if the deadline
/// cancelled the child and the child did not succeed anyway (a child returning a result<T>
/// that holds a value is returned as is; one returning anything else counts as cancelled);
/// else the child's result, flattened as aio::run does (a result<T> returned by f is passed
/// through, not nested). The child's exception is rethrown. A timeout of zero or less
/// starts the child cancelled. The deadline runs on the env executor's loop, which must be
/// an aio loop's (aio::init_env); called from root, it runs that loop until the child
/// finishes (errc::deadlock if nothing can make progress). Not a cancellation point
/// itself: a cancel of the caller reaches the child, whose result is then returned.
template <class F, class... Args>
  requires detail::async_callable<F, Args...>
auto with_timeout(std::chrono::milliseconds timeout, F&& f, Args&&... args)
    -> typename detail::flat_result<detail::async_result_t<F, Args...>>::type {
  using R = detail::async_result_t<F, Args...>;
  std::int64_t at = detail::deadline_after(timeout);
  auto fr = frame_t<R>::init(stack_arg(), std::forward<F>(f), std::forward<Args>(args)...);
  if (!fr) {
    return fr.error();
  }
  detail::timeout_guard guard(at, fr->frame());
  xresume(fr->frame());
  if (!detail::join_anywhere(fr->frame())) {
    return errc::deadlock;
  }
  if constexpr (std::is_void_v<R>) {
    xawait(*fr);
    if (guard.fired()) {
      return std::make_error_code(std::errc::timed_out);
    }
    return {};
  } else if constexpr (detail::is_result<std::remove_cv_t<R>>) {
    R r = xawait(std::move(*fr));
    if (guard.fired() && !r) {
      return std::make_error_code(std::errc::timed_out);
    }
    return r;
  } else {
    R r = xawait(std::move(*fr));
    if (guard.fired()) {
      return std::make_error_code(std::errc::timed_out);
    }
    return r;
  }
}

}  // namespace xcoro
