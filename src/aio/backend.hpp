// The internal interface between aio's objects and the two kernel backends: one IO
// operation (io_op, on the waiting coroutine's stack), the backend base class with the
// timer heap and the completion path they share. See docs/aio.md.
#pragma once

#include <cerrno>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "aio/busy_poll.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/detail/deadline.hpp"

namespace xcoro::aio::detail {

/// What an op does, and what its `buf` and `len` are for it.
enum class op_kind : std::uint8_t {
  timer,    // sleep: completes at its deadline
  accept,   // accept4 on fd
  connect,  // connect fd to the address at buf, of len bytes (a sockaddr)
  recv,     // recv into buf
  send,     // send buf (MSG_NOSIGNAL)
  recvmsg,  // recvmsg with the msghdr at buf (UDP, sender address kept)
  sendmsg,  // sendmsg with the msghdr at buf (UDP)
  read,     // read / pread into buf (offset == current_offset: the file position)
  write,    // write / pwrite buf
  poll_in,  // wait until fd is readable (pidfd)
};

inline constexpr std::uint64_t current_offset = ~std::uint64_t{0};
inline constexpr std::size_t no_heap_index = ~std::size_t{0};

/// One IO operation. Lives on the calling coroutine's stack from submit to completion; its
/// destructor makes sure the kernel is done with it (see io_backend::abandon). Kept small
/// and free of system-specific types: every TCP read and write builds one, so what only
/// some kinds need (a connect's sockaddr, UDP's msghdr) is a payload beside the op in the
/// caller's frame that `buf` points to, and what a backend needs while the op is in flight
/// (io_uring's linked timeout) goes in `scratch`.
struct io_op {
  io_op(io_backend& b, op_kind k, int f) noexcept : backend(&b), fd(f), kind(k) {}
  io_op(const io_op&) = delete;
  io_op& operator=(const io_op&) = delete;
  ~io_op() {
    // Completed and collected by its coroutine is the common case; anything else (in
    // flight while unwinding, parked in the ready list, still the coroutine's wait
    // registration) goes through release().
    if (st == state::in_flight || ready_listed ||
        (waiter != nullptr && xcoro::detail::coro_access::wait_ctx(waiter) == this))
        [[unlikely]] {
      release();
    }
  }

  enum class state : std::uint8_t { idle, in_flight, completed };

  io_backend* backend;
  coro* waiter = nullptr;
  void* buf = nullptr;
  std::size_t len = 0;
  std::int64_t res = 0;            // >= 0: result; < 0: -errno
  std::int64_t deadline_ns = -1;   // steady clock; -1: none
  std::size_t heap_index = no_heap_index;
  io_op* next = nullptr;           // epoll interest list / ready list / thread-pool queue
  io_op* prev = nullptr;
  int fd;
  op_kind kind;
  state st = state::idle;
  bool cancel_requested = false;  // aio::cancel or abandon asked for it
  bool waiting = false;           // its coroutine is suspended for it (resume on completion)
  bool ready_listed = false;      // completed while deferred; in the backend's ready list
  bool timeout_linked = false;    // io_uring: a linked timeout follows the op's SQE
  bool file = false;              // an aio::file op (epoll: polled, or on the pool if unpollable)
  bool regular_file = false;      // epoll: runs on the thread pool (set by submit for a file op)
  bool connecting = false;        // epoll: connect returned EINPROGRESS
  std::atomic<bool> pool_done{false};  // epoll: the pool thread is done with the op

  std::uint64_t offset = current_offset;  // read / write
  /// The backend's, from submit to completion (io_uring: its linked timeout's timespec).
  alignas(8) unsigned char scratch[16];

 private:
  /// The uncommon end of ~io_op: abandons an op in flight, unlinks it from the ready
  /// list, ends its coroutine's wait registration if it is still this op's.
  void release() noexcept;
};
// The size every TCP read and write pays for (it was 328 bytes with a msghdr, an iovec and
// a sockaddr_storage inline, 136 with a connect's address and a msghdr pointer).
static_assert(sizeof(io_op) <= 112, "io_op grew: keep kind-specific state out of it");

/// Monotonic time in nanoseconds: the clock of op deadlines and the loop's timers.
inline std::int64_t now_ns() noexcept {
  return xcoro::detail::steady_ns();
}

/// The deadline of a call, and of each op it runs (include/xcoro/detail/deadline.hpp).
using xcoro::detail::io_deadline;

/// io_deadline in the raw form resolve.cpp still uses: the deadline of `timeout` (-1: none),
/// and what is left of it for the next step (io_deadline::remaining).
inline std::int64_t deadline_of(const std::chrono::milliseconds* timeout) noexcept {
  return io_deadline::of(timeout).at_ns;
}
inline const std::chrono::milliseconds* time_left(std::int64_t deadline,
                                                  std::chrono::milliseconds& left) noexcept {
  return io_deadline::at(deadline).remaining(left);
}

/// What both backends share: in-flight accounting, the timer heaps (sleeps, op deadlines on
/// epoll, and the deadlines of the core's waits on channels and select), the list of ops
/// completed while their resumption had to wait, and the completion path.
class io_backend : public xcoro::detail::deadline_clock {
 public:
  virtual ~io_backend() = default;
  virtual aio::backend kind() const noexcept = 0;
  /// Whether sockets and eventfds should be O_NONBLOCK for this backend.
  virtual bool wants_nonblocking() const noexcept = 0;
  /// Starts `op`; it may complete before this returns.
  virtual void submit(io_op& op) = 0;
  /// Asks for `op` to end early with errc::canceled (or timed_out); completes later.
  virtual void cancel(io_op& op) = 0;
  /// Returns once the kernel no longer refers to `op` or its buffers; `op` is then
  /// completed without resuming anyone. Used by ~io_op when a coroutine is unwound.
  virtual void abandon(io_op& op) = 0;
  /// Forgets this loop's per-descriptor state before `fd` is closed: its ops still waiting
  /// on it end with EBADF.
  virtual void forget(int fd) noexcept = 0;
  /// Processes completions: without blocking, or waiting until one arrives or the earliest
  /// timer is due. Resumes the coroutines whose ops completed.
  virtual void poll(bool block) = 0;
  /// An eventfd that any thread may write to end a blocking poll of this loop, even one
  /// with nothing in flight (the multi-core runtime's wake-up, docs/runtime.md); -1 with
  /// errno set if it could not be made. Made on the first call; what it watches is not
  /// counted in busy().
  virtual int wake_fd() noexcept = 0;

  /// How long a blocking poll keeps asking for completions before it sleeps
  /// (loop_options::busy_poll, busy_poll_adaptive).
  void set_busy_poll(std::int64_t ns, bool adaptive) noexcept {
    spin_window_ = busy_poll_window(ns, adaptive);
  }

  /// aio::cancel and close: cancel(op) or forget(fd) on behalf of a caller that is not the
  /// waiter of the ops they end. What completes at once waits in the ready list for the
  /// loop's next tick instead of being resumed here: resumed inside the caller's call, the
  /// waiter would run on top of it, and on finishing would switch to its own starter, so
  /// the caller would never run again.
  void cancel_for_caller(io_op& op) {
    deferred d(*this);
    cancel(op);
  }
  void forget_for_caller(int fd) noexcept {
    deferred d(*this);
    forget(fd);
  }

  /// Aborts with a line naming `call` and the running coroutine unless the calling thread
  /// is the one that made this loop: an object made with an explicit executor of another
  /// thread (a runtime's worker) would otherwise change this loop's state from two threads.
  void check_thread(const char* call) const noexcept {
    if (!owned_here()) [[unlikely]] {
      wrong_thread(call);
    }
  }
  bool owned_here() const noexcept { return owner_ == &xcoro::detail::tls; }
  [[noreturn]] static void wrong_thread(const char* call) noexcept;
  /// The bit of this loop in fd_entry::loops: 0 for io_uring, which keeps no per-descriptor
  /// state; one of 63 for an epoll loop, or the last one, shared by all epoll loops beyond
  /// 63 (overflow_bit).
  std::uint64_t fd_bit() const noexcept { return fd_bit_; }
  static constexpr std::uint64_t overflow_bit = std::uint64_t{1} << 63;
  /// Ops submitted and not completed (timers included), ops awaiting resumption, and armed
  /// wait deadlines (a coroutine waits for one, so the loop must wait with it; they count
  /// in in_flight_).
  bool busy() const noexcept { return in_flight_ > 0 || ready_head_ != nullptr; }

  /// Marks `op` complete with `res` and resumes its coroutine (directly, or through the
  /// ready list while `defer_` is set). Inline, so that a reap loop resuming many
  /// coroutines saves and restores the registers the switch clobbers once per batch, not
  /// once per completion.
  void complete(io_op& op, std::int64_t res) noexcept {
    op.res = res;
    op.st = io_op::state::completed;
    --in_flight_;
    if (op.heap_index != no_heap_index) [[unlikely]] {
      timer_remove(op);
    }
    if (!op.waiting) {
      return;  // completed inline, or its waiter pumps the loop from root
    }
    if (defer_) [[unlikely]] {
      park_ready(op);
      return;
    }
    xresume(op.waiter);
  }
  /// Resumes ops parked in the ready list; returns whether there were any. Inline: every
  /// poll and every loop tick asks, and the list is nearly always empty.
  bool resume_ready() noexcept {
    if (ready_head_ != nullptr && !defer_) [[unlikely]] {
      resume_ready_list();
      return true;
    }
    return false;
  }

  void timer_add(io_op& op);
  void timer_remove(io_op& op) noexcept;
  /// deadline_clock: the deadlines of the core's waits, in a heap of their own.
  void arm(xcoro::detail::deadline& d) override;
  void disarm(xcoro::detail::deadline& d) noexcept override;
  /// Whether any timer (sleep, op deadline, wait deadline) is armed.
  bool timers_armed() const noexcept { return timers_ != 0; }
  /// Nanoseconds until the earliest timer (0 if due), or -1 with no timers.
  std::int64_t timer_wait_ns() const noexcept;
  /// Completes every op whose deadline has passed (a sleep with 0, an op with timed_out)
  /// and fires every due wait deadline. Returns whether any did: a poll must not then
  /// block, since what completed may have been the last op in flight.
  bool timers_expire() { return timers_armed() && expire_due(); }

  void unlink_ready(io_op& op) noexcept;

 protected:
  /// Marks `op` in flight (every submit starts with this).
  void start(io_op& op) noexcept {
    op.st = io_op::state::in_flight;
    ++in_flight_;
  }
  /// Cancels a sleep: out of the heap, completed with -ECANCELED.
  void cancel_timer(io_op& op) noexcept {
    if (op.heap_index != no_heap_index) {
      timer_remove(op);
    }
    complete(op, -ECANCELED);
  }

  /// What an op whose deadline passed does (epoll: withdraw it, complete with timed_out).
  virtual void expire(io_op& op) = 0;

  /// The nanoseconds a blocking poll may spin before it sleeps: the spin window, or 0
  /// (sleep at once) when a timer is due sooner than the window would end, so that a
  /// short sleep is slept rather than spun through.
  std::int64_t spin_budget_ns() const noexcept {
    std::int64_t window = spin_window_.window_ns();
    if (window == 0) [[likely]] {
      return 0;
    }
    std::int64_t timer = timer_wait_ns();
    return timer >= 0 && timer < window ? 0 : window;
  }
  /// Brackets a blocking wait in the kernel, so that an adaptive spin window learns how long
  /// the loop sleeps: sleep_began() before, woke(its value, ...) after. No clock reads
  /// otherwise. Only a wait that a completion ended counts: one that a timer (or a signal)
  /// ended says nothing about how soon IO comes back, and a loop that sleeps in short
  /// steps must not learn to spin through them.
  std::int64_t sleep_began() const noexcept { return spin_window_.adaptive() ? now_ns() : 0; }
  void woke(std::int64_t began, bool by_completion) noexcept {
    if (spin_window_.adaptive() && by_completion) {
      spin_window_.slept(now_ns() - began);
    }
  }

  /// Parks completions in the ready list while it lives.
  struct deferred {
    explicit deferred(io_backend& b) noexcept : b(b), was(b.defer_) { b.defer_ = true; }
    ~deferred() { b.defer_ = was; }
    deferred(const deferred&) = delete;
    deferred& operator=(const deferred&) = delete;
    io_backend& b;
    bool was;
  };

  std::uint64_t fd_bit_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t timers_ = 0;  // entries of heap_ and deadlines_: one test per poll
  busy_poll_window spin_window_;
  bool defer_ = false;  // completions park in the ready list instead of resuming
  std::vector<io_op*> heap_;
  std::vector<xcoro::detail::deadline*> deadlines_;
  io_op* ready_head_ = nullptr;
  io_op* ready_tail_ = nullptr;

 private:
  /// The thread that made the loop: the only one that may use it.
  const void* owner_ = &xcoro::detail::tls;
  /// The bodies of resume_ready and timers_expire, out of line: they resume coroutines, and
  /// a function that switches saves every callee-saved register on entry.
  void resume_ready_list() noexcept;
  bool expire_due();
  /// Appends `op` to the ready list (complete while deferred).
  void park_ready(io_op& op) noexcept;
};


/// resolve() for an operation: `ex`, which must be this thread's (an object made with an
/// explicit executor belongs to that executor's thread; an op from another aborts, naming
/// `call` and the coroutine), or the env executor, which always is. The check costs the
/// nullptr case nothing.
inline aio::executor& resolve_op(aio::executor* ex, const char* call) noexcept {
  if (ex == nullptr) {
    return resolve_env(call);
  }
  if (!ex->get_loop().impl().owned_here()) [[unlikely]] {
    io_backend::wrong_thread(call);
  }
  return *ex;
}

std::unique_ptr<io_backend> make_uring_backend(const loop_options& o, std::error_code& ec);
std::unique_ptr<io_backend> make_epoll_backend(std::error_code& ec);

/// What xcoro's close (and anything else of xcoro that makes a descriptor number name
/// another file) does first, on the thread whose loop is `b`: checks that `b` is this
/// thread's (see check_thread, naming `call`), bumps the number's generation in the
/// process-wide fd_table, ends the ops `b` has waiting on it (EBADF on epoll, as
/// forget_for_caller), and tells every other epoll loop that registered it: each drops the
/// registration now and ends its own waiting ops on its next poll (docs/aio.md, "IO inside
/// a runtime"). `b` nullptr: no loop of the caller's; every loop that registered it is told.
void before_close(io_backend* b, const char* call, int fd) noexcept;

/// The wait kind of a coroutine suspended in an op (detail/wait_kind.hpp): withdrawing
/// cancels the op, as aio::cancel does; its call is the public call the op serves.
extern const xcoro::detail::wait_kind io_wait;

/// Runs `op` to completion from the calling coroutine (suspending) or from root (pumping
/// `ex`). Returns op.res, or -ECANCELED without submitting anything when the calling
/// coroutine's cancel is pending (op.cancel_requested is then set).
std::int64_t execute(aio::executor& ex, io_op& op);

/// The error of a failed op: -errno to an error_code, and -ECANCELED to errc::canceled or
/// std::errc::timed_out.
std::error_code to_error(const io_op& op, std::int64_t res) noexcept;

/// Maps an op result to a result<std::size_t> (errors through to_error).
inline result<std::size_t> to_size(const io_op& op, std::int64_t res) {
  if (res >= 0) [[likely]] {
    return static_cast<std::size_t>(res);
  }
  return to_error(op, res);
}

/// The one way a front end runs an op: resolves `ex` for `call` (resolve_op), builds the
/// io_op of `kind` on `fd` in this frame, lets `fill(op)` set what its kind needs (buffer,
/// offset, a pointer to its payload in the caller's frame), gives it the call's deadline,
/// executes it and converts the result (to_size). Inline, so that a read or write costs
/// what the hand-written setup it replaces did.
template <class Fill>
inline result<std::size_t> run_op(aio::executor* ex, const char* call, op_kind kind, int fd,
                                  io_deadline d, Fill&& fill) {
  aio::executor& e = resolve_op(ex, call);
  io_op op(e.get_loop().impl(), kind, fd);
  op.deadline_ns = d.at_ns;
  fill(op);
  return to_size(op, execute(e, op));
}

}  // namespace xcoro::aio::detail
