// The io_uring backend (liburing). One SQE per op, submitted in batches when the loop
// polls; op deadlines are linked timeouts; sleeps use the loop's timer heap, whose earliest
// deadline bounds the wait (IORING_ENTER_EXT_ARG, no timeout SQE). CQEs are reaped by
// walking the CQ ring directly (no liburing call per CQE), each marked seen before its
// coroutine is resumed, so a resumed coroutine may submit, cancel or abandon ops
// (re-entering the ring) safely.
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <poll.h>

#include <cerrno>
#include <memory>
#include <new>

#include "aio/backend.hpp"

namespace xcoro::aio::detail {
namespace {

class uring_backend final : public io_backend {
 public:
  ~uring_backend() override {
    io_uring_queue_exit(&ring_);
    if (wake_fd_ >= 0) {
      ::close(wake_fd_);
    }
  }

  std::error_code init(const loop_options& o) {
    // DEFER_TASKRUN + SINGLE_ISSUER (Linux 6.1+): completions are processed only when this
    // thread enters the ring, which saves interrupts and wake-ups; fall back without them.
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int rc = io_uring_queue_init_params(o.entries, &ring_, &p);
    if (rc == -EINVAL) {
      p = io_uring_params{};
      p.flags = IORING_SETUP_COOP_TASKRUN;
      rc = io_uring_queue_init_params(o.entries, &ring_, &p);
    }
    if (rc == -EINVAL) {
      rc = io_uring_queue_init(o.entries, &ring_, 0);
    }
    if (rc < 0) {
      return std::error_code(-rc, std::system_category());
    }
    defer_taskrun_ = (p.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    return {};
  }

  aio::backend kind() const noexcept override { return aio::backend::io_uring; }
  // io_uring arms its own poll for blocking sockets; a non-blocking one would make it
  // return -EAGAIN instead.
  bool wants_nonblocking() const noexcept override { return false; }

  void submit(io_op& op) override {
    start(op);
    if (op.kind == op_kind::timer) {
      timer_add(op);
      return;
    }
    io_uring_sqe* sqe = sqe_for(op.deadline_ns >= 0 ? 2 : 1);
    switch (op.kind) {
      case op_kind::accept:
        io_uring_prep_accept(sqe, op.fd, nullptr, nullptr, SOCK_CLOEXEC);
        break;
      case op_kind::connect:
        io_uring_prep_connect(sqe, op.fd, static_cast<const sockaddr*>(op.buf),
                              static_cast<socklen_t>(op.len));
        break;
      case op_kind::recv:
        io_uring_prep_recv(sqe, op.fd, op.buf, op.len, 0);
        break;
      case op_kind::send:
        io_uring_prep_send(sqe, op.fd, op.buf, op.len, MSG_NOSIGNAL);
        break;
      case op_kind::recvmsg:
        io_uring_prep_recvmsg(sqe, op.fd, static_cast<msghdr*>(op.buf), 0);
        break;
      case op_kind::sendmsg:
        io_uring_prep_sendmsg(sqe, op.fd, static_cast<const msghdr*>(op.buf), MSG_NOSIGNAL);
        break;
      case op_kind::read:
        io_uring_prep_read(sqe, op.fd, op.buf, static_cast<unsigned>(op.len), op.offset);
        break;
      case op_kind::write:
        io_uring_prep_write(sqe, op.fd, op.buf, static_cast<unsigned>(op.len), op.offset);
        break;
      case op_kind::poll_in:
        io_uring_prep_poll_add(sqe, op.fd, POLLIN);
        break;
      case op_kind::timer:
        break;
    }
    io_uring_sqe_set_data(sqe, &op);
    if (op.deadline_ns >= 0) {
      std::int64_t left = op.deadline_ns - now_ns();
      if (left < 0) {
        left = 0;
      }
      // The kernel reads the timespec when it takes the SQE, at the next submit: it lives in
      // the op until then.
      static_assert(sizeof(__kernel_timespec) <= sizeof op.scratch);
      auto* ts = new (op.scratch) __kernel_timespec{left / 1000000000, left % 1000000000};
      op.timeout_linked = true;
      sqe->flags |= IOSQE_IO_LINK;
      io_uring_sqe* t = io_uring_get_sqe(&ring_);  // reserved by sqe_for
      io_uring_prep_link_timeout(t, ts, 0);
      io_uring_sqe_set_data64(t, 0);
    }
  }

  void cancel(io_op& op) override {
    op.cancel_requested = true;
    if (op.kind == op_kind::timer) {
      cancel_timer(op);
      return;
    }
    io_uring_sqe* sqe = sqe_for(1);
    io_uring_prep_cancel(sqe, &op, 0);
    io_uring_sqe_set_data64(sqe, 0);
    // Submitted now, not at the next tick: anything the caller does next (a write that
    // would satisfy the op, say) then comes after the cancel, and the op ends canceled.
    // Left queued, the op could still complete with data that arrived in between.
    io_uring_submit(&ring_);
  }

  void abandon(io_op& op) override {
    if (op.kind == op_kind::timer) {
      cancel_timer(op);
      return;
    }
    if (!op.cancel_requested) {
      cancel(op);
    }
    // Wait for this op's own CQE; other completions found meanwhile are parked in the
    // ready list and resumed by the next normal poll.
    deferred parked(*this);
    bool saved_waiting = op.waiting;
    op.waiting = false;
    while (op.st == io_op::state::in_flight) {
      int rc = io_uring_submit_and_wait(&ring_, 1);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        break;  // the ring is unusable; nothing better to do than stop waiting
      }
      reap();
    }
    op.waiting = saved_waiting;
  }

  void forget(int) noexcept override {}

  int wake_fd() noexcept override {
    if (wake_fd_ < 0) {
      wake_fd_ = eventfd(0, EFD_CLOEXEC);
      if (wake_fd_ >= 0) {
        arm_wake();
      }
    }
    return wake_fd_;
  }

  void poll(bool block) override {
    if (timers_expire()) {
      block = false;  // that may have been the last op in flight: nothing would wake us
    }
    if (block && io_uring_cq_ready(&ring_) == 0) {
      if (std::int64_t budget = spin_budget_ns(); budget > 0) {
        spin(budget);
      }
    }
    if (block && io_uring_cq_ready(&ring_) == 0) {
      // One io_uring_enter submits what is queued and waits, as a hand-written loop does.
      // Only with a timer pending does the wait need a timeout (and the EXT_ARG path).
      std::int64_t began = sleep_began();
      int rc;
      if (!timers_armed()) {
        rc = io_uring_submit_and_wait(&ring_, 1);
      } else {
        std::int64_t wait = timer_wait_ns();
        __kernel_timespec ts{};
        ts.tv_sec = wait / 1000000000;
        ts.tv_nsec = wait % 1000000000;
        io_uring_cqe* cqe = nullptr;
        rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      }
      (void)rc;  // -ETIME: a timer is due; -EINTR: a signal; both just mean "look again"
      woke(began, io_uring_cq_ready(&ring_) != 0);
    } else {
      // Not waiting: submit what is queued and, with DEFER_TASKRUN, run the completions the
      // kernel holds back until this thread enters the ring; an overflowed CQ is flushed
      // the same way. A blocking poll that found CQEs already waiting, with nothing to
      // submit, needs no system call at all.
      bool overflow = io_uring_cq_has_overflow(&ring_);
      if ((defer_taskrun_ && !block) || overflow) {
        io_uring_submit_and_get_events(&ring_);
      } else if (io_uring_sq_ready(&ring_) != 0) {
        io_uring_submit(&ring_);
      }
    }
    reap();
    timers_expire();
    resume_ready();
  }

 protected:
  void expire(io_op& op) override {
    // Only sleeps live in the heap with io_uring; op deadlines are linked timeouts.
    complete(op, -ETIMEDOUT);
  }

 private:
  /// Busy polling (loop_options::busy_poll): submits, then enters the ring without waiting
  /// (which also runs completions DEFER_TASKRUN holds back) until a completion is posted or
  /// `budget_ns` is spent. Out of line: most polls do not spin.
  [[gnu::noinline]] void spin(std::int64_t budget_ns) {
    std::int64_t end = now_ns() + budget_ns;
    io_uring_submit_and_get_events(&ring_);
    while (io_uring_cq_ready(&ring_) == 0 && now_ns() < end) {
      io_uring_get_events(&ring_);
    }
  }

  /// An SQE with room for `count` consecutive ones (an op and its linked timeout).
  io_uring_sqe* sqe_for(unsigned count) {
    while (io_uring_sq_space_left(&ring_) < count) [[unlikely]] {
      io_uring_submit(&ring_);
    }
    return io_uring_get_sqe(&ring_);
  }

  /// Completes the ops of every CQE in the ring, walking the CQ ring inline instead of a
  /// liburing peek per CQE (which calls into the library, to check for overflow, each
  /// time it finds the ring empty: once per poll). Each CQE is marked seen (a release
  /// store, plain on x86) before its coroutine is resumed, and head and tail are read again
  /// after each one: the coroutine may re-enter the ring (abandon reaps CQEs itself, a full
  /// SQ submits), so both may have moved, the head possibly past the tail read before.
  void reap() {
    io_uring_cq& cq = ring_.cq;
    for (;;) {
      unsigned head = *cq.khead;
      if (head == io_uring_smp_load_acquire(cq.ktail)) {
        return;
      }
      // No IORING_SETUP_CQE32: one slot per CQE.
      const io_uring_cqe& cqe = cq.cqes[head & cq.ring_mask];
      std::uint64_t data = cqe.user_data;
      std::int64_t res = cqe.res;
      io_uring_smp_store_release(cq.khead, head + 1);
      // 0: a linked timeout or a cancel request; LIBURING_UDATA_TIMEOUT: liburing's own
      // wait timeout on kernels without IORING_FEAT_EXT_ARG.
      if (data != 0 && data != LIBURING_UDATA_TIMEOUT) [[likely]] {
        if (data == wake_tag) [[unlikely]] {
          arm_wake();  // the read took the count: the wake-up has done its work
          continue;
        }
        complete(*reinterpret_cast<io_op*>(data), res);
      }
    }
  }

  /// A read of the wake eventfd, kept in flight while the runtime uses this loop; it is
  /// not an io_op and not counted in busy(). A blocking eventfd read is armed on its poll.
  void arm_wake() {
    io_uring_sqe* sqe = sqe_for(1);
    io_uring_prep_read(sqe, wake_fd_, &wake_count_, sizeof wake_count_, 0);
    io_uring_sqe_set_data64(sqe, wake_tag);
  }

  // An odd value: never the address of an io_op.
  static constexpr std::uint64_t wake_tag = 1;

  io_uring ring_{};
  bool defer_taskrun_ = false;
  int wake_fd_ = -1;
  std::uint64_t wake_count_ = 0;
};

}  // namespace

std::unique_ptr<io_backend> make_uring_backend(const loop_options& o, std::error_code& ec) {
  auto b = std::make_unique<uring_backend>();
  ec = b->init(o);
  if (ec) {
    return nullptr;
  }
  return b;
}

}  // namespace xcoro::aio::detail
