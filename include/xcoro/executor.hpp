// A FIFO executor: the ready queue that channels and sync primitives wake coroutines
// through (zigcoro Executor). See docs/executor.md.
#pragma once

#include <cstdint>

#include "xcoro/export.hpp"

namespace xcoro {

namespace detail {
class deadline_clock;
struct executor_access;
struct executor_inbox;
}  // namespace detail

/// A single-threaded FIFO ready queue of caller-owned function nodes. Not thread-safe: use
/// it from the thread that owns the coroutines it resumes. (A runtime's worker executors
/// also accept run_soon from other threads; see docs/runtime.md.)
class XCORO_EXPORT executor {
 public:
  /// An intrusive node (zigcoro Func). The caller owns it and keeps it alive while it is
  /// queued; `next` is nullptr while it is not queued and must not be touched by users.
  struct func {
    void (*fn)(void* userdata) = nullptr;
    void* userdata = nullptr;
    func* next = nullptr;
  };

  executor() noexcept = default;
  /// With set_report_unfinished(true), lists this thread's unfinished coroutines.
  ~executor();
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;

  /// Appends `f` to the ready queue; it runs on a later tick(). Aborts with a message if
  /// `f` is already queued (zigcoro corrupts its list here).
  void run_soon(func& f);

  /// Runs a snapshot of the ready queue in FIFO order; what the snapshot queues runs on the
  /// next tick. Returns true if anything ran. Loop `while (ex.tick()) {}` to drain.
  /// Calling tick() from a function that tick() runs aborts with a message.
  bool tick();

  /// True if nothing is queued.
  bool empty() const noexcept { return head_ == nullptr; }

  /// Removes `f` if it is queued, also from the snapshot a running tick() has yet to run;
  /// returns whether it was. Linear in the queue length.
  bool cancel(func& f) noexcept;

 private:
  friend struct detail::executor_access;
  func* head_ = nullptr;
  func* tail_ = nullptr;
  func* running_ = nullptr;  // the rest of the snapshot tick() is running
  bool ticking_ = false;
  // Set by the loop that drives this executor (aio::executor), if one does: the clock that
  // runs deadlines, and one step of the whole loop.
  detail::deadline_clock* clock_ = nullptr;
  bool (*step_)(void* loop) = nullptr;
  void* step_loop_ = nullptr;
  // Set for an executor of a runtime's worker (docs/runtime.md): where other threads post.
  detail::executor_inbox* inbox_ = nullptr;
};

namespace detail {
/// For the library's own code: what the loop that drives an executor provides (set by
/// aio::executor). Deadline waits on the executor arm its clock (detail/deadline.hpp), and
/// code in root that must wait for coroutines (task_group, with_timeout) steps the whole
/// loop, since a coroutine whose IO was cancelled is resumed by the loop, not the executor.
struct executor_access {
  static deadline_clock*& clock(xcoro::executor& e) noexcept { return e.clock_; }
  static void set_loop(xcoro::executor& e, deadline_clock* clock, bool (*step)(void*),
                       void* loop) noexcept {
    e.clock_ = clock;
    e.step_ = step;
    e.step_loop_ = loop;
  }
  /// One step of the loop driving `e`, or e.tick() if none does. False if nothing could
  /// make progress.
  static bool step(xcoro::executor& e) { return e.step_ != nullptr ? e.step_(e.step_loop_) : e.tick(); }

  /// Lets threads other than the calling one (which owns `e`) queue work on `e`: their
  /// run_soon goes to an inbox, and `wake(ctx)` is called when the owner may be parked.
  /// The runtime does this for each worker's executor; until then nothing changes.
  XCORO_EXPORT static void share(xcoro::executor& e, void (*wake)(void* ctx), void* ctx);
  /// Undoes share; the inbox must be empty.
  XCORO_EXPORT static void unshare(xcoro::executor& e) noexcept;
  static bool shared(const xcoro::executor& e) noexcept { return e.inbox_ != nullptr; }
  /// Owner only: moves what other threads posted into the ready queue.
  XCORO_EXPORT static void take_posted(xcoro::executor& e) noexcept;
  /// run_soon on a shared executor: posted from another thread, or queued by the owner.
  XCORO_EXPORT static void run_soon_shared(xcoro::executor& e, xcoro::executor::func& f) noexcept;
  /// Owner only, about to block where wake() ends the wait: announces it. False if work
  /// was posted meanwhile (do not block then). Either way, call unpark() afterwards.
  XCORO_EXPORT static bool park(xcoro::executor& e) noexcept;
  XCORO_EXPORT static void unpark(xcoro::executor& e) noexcept;
  /// Whether other threads posted work the owner has not taken yet (any thread).
  XCORO_EXPORT static bool has_posted(const xcoro::executor& e) noexcept;
  /// Whether `e` is shared and the calling thread is not its owner.
  XCORO_EXPORT static bool foreign(const xcoro::executor& e) noexcept;
};
}  // namespace detail

}  // namespace xcoro
