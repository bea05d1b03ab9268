// Readiness turned into completion, for a backend whose kernel reports when a descriptor
// is ready rather than completing operations itself: epoll now, and kqueue's EVFILT_READ
// and EVFILT_WRITE would fit the same way. Each op first tries its system call on the
// non-blocking descriptor; on EAGAIN it is armed: it waits in its descriptor's reader or
// writer list until the kernel reports readiness (edge-triggered, the descriptor watched
// once), and is tried again. A read on a descriptor whose last read hit EAGAIN, with no
// readiness reported since, skips the attempt that would fail again. Deadlines live in the
// loop's timer heap. aio::file ops on what the kernel cannot watch (regular files, block
// devices) run on a two-thread pool that reports back through the wake eventfd. The
// process-wide fd_table tells a loop when its state for a number belongs to a descriptor
// closed since, and a close tells the other loops that watched it (docs/aio.md, "IO inside
// a runtime"). A backend supplies the kernel's part: watch(fd) and unwatch(fd), its wait,
// and for each event ready(fd, readable, writable).
#pragma once

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "aio/backend.hpp"
#include "aio/fd_table.hpp"
#include "aio/raw_syscall.hpp"

namespace xcoro::aio::detail {

/// An intrusive FIFO of ops through io_op::next / prev.
struct op_list {
  io_op* head = nullptr;
  io_op* tail = nullptr;

  bool empty() const noexcept { return head == nullptr; }
  void push_back(io_op& op) noexcept {
    op.next = nullptr;
    op.prev = tail;
    if (tail != nullptr) {
      tail->next = &op;
    } else {
      head = &op;
    }
    tail = &op;
  }
  void remove(io_op& op) noexcept {
    if (op.prev != nullptr) {
      op.prev->next = op.next;
    } else {
      head = op.next;
    }
    if (op.next != nullptr) {
      op.next->prev = op.prev;
    } else {
      tail = op.prev;
    }
    op.next = op.prev = nullptr;
  }
  bool contains(const io_op& op) const noexcept {
    for (io_op* p = head; p != nullptr; p = p->next) {
      if (p == &op) {
        return true;
      }
    }
    return false;
  }
};

bool is_reader(op_kind k) noexcept {
  return k == op_kind::accept || k == op_kind::recv || k == op_kind::recvmsg ||
         k == op_kind::read || k == op_kind::poll_in;
}

/// Runs regular-file reads and writes off the loop thread.
class file_pool {
 public:
  explicit file_pool(int wake_fd) noexcept : wake_fd_(wake_fd) {}
  ~file_pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) {
      t.join();
    }
  }

  void push(io_op& op) {
    op.pool_done.store(false, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (workers_.empty()) {
        for (int i = 0; i < 2; ++i) {
          workers_.emplace_back([this] { work(); });
        }
      }
      jobs_.push_back(op);
    }
    cv_.notify_one();
  }

  /// Takes the finished ops.
  op_list take_done() {
    std::lock_guard<std::mutex> lock(mu_);
    op_list out = done_;
    done_ = op_list{};
    return out;
  }

  /// Takes `op` off the queue if no worker has started it; returns whether it did.
  bool take_queued(io_op& op) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!jobs_.contains(op)) {
      return false;
    }
    jobs_.remove(op);
    return true;
  }

  /// Waits until the pool is done with `op`, then takes it off whichever list holds it.
  void wait_done(io_op& op) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (jobs_.contains(op)) {
        jobs_.remove(op);
        op.res = -ECANCELED;
        return;
      }
    }
    while (!op.pool_done.load(std::memory_order_acquire)) {
      sched_yield();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (done_.contains(op)) {
      done_.remove(op);
    }
  }

 private:
  void work() {
    for (;;) {
      io_op* op = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_) {
          return;
        }
        op = jobs_.head;
        jobs_.remove(*op);
      }
      ssize_t n;
      do {
        if (op->kind == op_kind::read) {
          n = op->offset == current_offset
                  ? ::read(op->fd, op->buf, op->len)
                  : ::pread(op->fd, op->buf, op->len, static_cast<off_t>(op->offset));
        } else {
          n = op->offset == current_offset
                  ? ::write(op->fd, op->buf, op->len)
                  : ::pwrite(op->fd, op->buf, op->len, static_cast<off_t>(op->offset));
        }
      } while (n < 0 && errno == EINTR);
      op->res = n < 0 ? -errno : n;
      {
        std::lock_guard<std::mutex> lock(mu_);
        done_.push_back(*op);
        op->pool_done.store(true, std::memory_order_release);
      }
      std::uint64_t one = 1;
      ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
      (void)ignored;
    }
  }

  int wake_fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  op_list jobs_;
  op_list done_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

class readiness_backend;

/// Every live readiness loop of the process and the fd_entry::loops bit of each, so that a
/// close on one thread can reach the other loops that watched the descriptor. Taken only
/// when a loop is made or destroyed and by a close that another loop must hear of.
struct readiness_registry {
  std::mutex mu;
  std::vector<readiness_backend*> live;  // under mu
  std::uint64_t used = 0;                // under mu: slots 0..62 taken
};

inline readiness_registry& registry() {
  static readiness_registry* r = new readiness_registry;  // never destroyed: loops may outlive exit
  return *r;
}

/// What readiness backends share; see the top of this file.
class readiness_backend : public io_backend {
 public:
  ~readiness_backend() override {
    pool_.reset();
    if (wake_fd_ >= 0) {
      ::close(wake_fd_);
    }
  }

  /// Another thread is about to close `fd`, which this loop registered (its bit was in the
  /// descriptor's fd_entry): the registration goes now, while the number still names the
  /// file it was made for (unwatch may be called from any thread), and this loop's
  /// waiting ops end with EBADF on its next poll, which the eventfd write brings. Under the
  /// registry's lock, which keeps this loop alive.
  void closing_elsewhere(int fd) noexcept {
    unwatch(fd);
    {
      std::lock_guard<std::mutex> hold(closed_mu_);
      closed_.push_back(fd);
    }
    closed_posted_.store(true, std::memory_order_release);
    std::uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }

  bool wants_nonblocking() const noexcept override { return true; }
  // The thread pool's eventfd serves: a wake-up with no pool op done just ends the wait.
  int wake_fd() noexcept override { return wake_fd_; }

  void submit(io_op& op) override {
    start(op);
    if (op.kind == op_kind::timer) {
      timer_add(op);
      return;
    }
    if (op.file) {
      op.regular_file = !pollable(op.fd);
    }
    if (op.regular_file) {
      // The deadline can only withdraw the op while it waits for a worker (withdraw).
      if (op.deadline_ns >= 0) {
        timer_add(op);
      }
      ++pool_ops_;
      pool_->push(op);
      return;
    }
    bool reader = is_reader(op.kind);
    bool known_blocked = reader && static_cast<std::size_t>(op.fd) < fds_.size() &&
                         fds_[static_cast<std::size_t>(op.fd)].registered &&
                         fds_[static_cast<std::size_t>(op.fd)].read_blocked;
    if (!known_blocked && try_now(op)) {
      return;
    }
    fd_state& s = state_of(op.fd);
    if (s.entry == nullptr || s.entry->gen.load(std::memory_order_acquire) != s.gen)
        [[unlikely]] {
      if (refresh(op, s, known_blocked)) {
        return;
      }
    }
    if (reader) {
      s.read_blocked = true;  // edge-triggered: the next readiness event clears it
    }
    if (!s.registered && !add(op.fd, s)) {
      complete(op, -errno);
      return;
    }
    (reader ? s.readers : s.writers).push_back(op);
    if (op.deadline_ns >= 0) {
      timer_add(op);
    }
  }

  void cancel(io_op& op) override {
    op.cancel_requested = true;
    withdraw(op, -ECANCELED);
  }

  void abandon(io_op& op) override {
    op.cancel_requested = true;
    op.waiting = false;
    if (op.regular_file) {
      pool_->wait_done(op);
      --pool_ops_;
      complete(op, op.res);
      return;
    }
    withdraw(op, -ECANCELED);
  }

  void forget(int fd) noexcept override {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) {
      return;
    }
    fd_state& s = fds_[static_cast<std::size_t>(fd)];
    if (s.registered) {
      unwatch(fd);
    }
    drop(s);
  }

 protected:
  /// Makes the wake eventfd and the pool, and joins the registry (this loop's fd bit).
  std::error_code start_readiness() {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      return std::error_code(errno, std::system_category());
    }
    pool_ = std::make_unique<file_pool>(wake_fd_);
    readiness_registry& r = registry();
    std::lock_guard<std::mutex> hold(r.mu);
    std::uint64_t free_slots = ~r.used & ~overflow_bit;
    fd_bit_ = free_slots != 0 ? free_slots & (~free_slots + 1) : overflow_bit;
    r.used |= fd_bit_ & ~overflow_bit;
    r.live.push_back(this);
    joined_ = true;
    return {};
  }
  /// Leaves the registry: after this no other thread's close calls unwatch. The derived
  /// backend's destructor calls it first, while its unwatch still works.
  void leave_registry() noexcept {
    if (!joined_) {
      return;
    }
    readiness_registry& r = registry();
    std::lock_guard<std::mutex> hold(r.mu);
    std::erase(r.live, this);
    if (fd_bit_ != overflow_bit) {
      r.used &= ~fd_bit_;
    }
    joined_ = false;
  }

  /// The kernel's part. watch: report readiness of `fd` in both directions from now on,
  /// edge-triggered; false with errno if the kernel refuses (EPERM: it cannot be watched,
  /// and a file op on it goes to the pool). Called again for a number this loop dropped
  /// while the kernel may still hold it, it must re-arm rather than fail. unwatch: stop;
  /// callable from any thread (a close elsewhere).
  virtual bool watch(int fd) = 0;
  virtual void unwatch(int fd) noexcept = 0;

  /// The kernel reported `fd` readable and/or writable (or hung up, or in error: both).
  void ready(int fd, bool readable, bool writable) {
    if (readable) {
      retry(fd, true);
    }
    if (writable) {
      retry(fd, false);
    }
  }
  /// The wake eventfd was readable: pool ops finished, or another thread closed a
  /// descriptor this loop watched.
  void woken() {
    drain_pool();
    if (closed_posted_.load(std::memory_order_acquire)) [[unlikely]] {
      take_closed();
    }
  }

  void expire(io_op& op) override { withdraw(op, -ETIMEDOUT); }

  int wake_fd_ = -1;

 private:
  struct fd_state {
    op_list readers;
    op_list writers;
    fd_entry* entry = nullptr;  // the number's entry in the process-wide fd_table
    std::uint32_t gen = 0;      // entry->gen when this state was last found current
    bool registered = false;    // watched
    bool read_blocked = false;  // the last read attempt hit EAGAIN; no readiness since
    bool unpollable = false;    // watch refused it: its file ops run on the pool
    bool published = false;     // this loop's bit is in entry->loops
  };

  /// Whether `s` still describes the descriptor that `fd` names: no xcoro close of the
  /// number since it was made. If not, records the new generation and returns false; the
  /// caller drops the stale state. One acquire load: only the paths that are about to wait
  /// (or to choose between polling and the pool) ask.
  bool current(int fd, fd_state& s) {
    if (s.entry == nullptr) [[unlikely]] {
      s.entry = &fd_table::get(fd);
    }
    std::uint32_t g = s.entry->gen.load(std::memory_order_acquire);
    if (g == s.gen) [[likely]] {
      return true;
    }
    s.gen = g;
    return false;
  }

  /// submit's uncommon case, out of line so that the common one saves no more registers:
  /// `s` has no fd_table entry yet, or xcoro closed the number since this loop registered
  /// it (on another worker, whose close could not reach this loop's state before this op).
  /// The stale state goes, and the attempt a stale "would block" mark skipped is owed now.
  /// Returns whether that attempt completed `op`.
  [[gnu::noinline]] bool refresh(io_op& op, fd_state& s, bool known_blocked) {
    if (current(op.fd, s)) {
      return false;
    }
    drop_stale(s);
    return known_blocked && try_now(op);
  }

  /// Forgets what `s` knew (registration, marks) and ends its waiting ops with EBADF: the
  /// descriptor they waited on is being closed, or was closed elsewhere. The closer took
  /// this loop's bit out of the entry, so a new registration publishes it again.
  void drop(fd_state& s) noexcept {
    s.registered = false;
    s.read_blocked = false;
    s.unpollable = false;
    s.published = false;
    for (op_list* l : {&s.readers, &s.writers}) {
      while (io_op* op = l->head) {
        l->remove(*op);
        complete(*op, -EBADF);
      }
    }
  }
  /// drop() on a path that submits or checks an op for its caller: the ops it ends wait in
  /// the ready list instead of running on top of the caller (forget_for_caller's rule).
  void drop_stale(fd_state& s) noexcept {
    deferred d(*this);
    drop(s);
  }

  /// On the loop's thread, after another thread's close (closing_elsewhere): drops the
  /// state of each number that is not current any more. A number registered again since
  /// (current) is a new descriptor and keeps its state.
  void take_closed() {
    std::vector<int> fds;
    {
      std::lock_guard<std::mutex> hold(closed_mu_);
      closed_posted_.store(false, std::memory_order_relaxed);
      fds.swap(closed_);
    }
    for (int fd : fds) {
      if (static_cast<std::size_t>(fd) < fds_.size()) {
        fd_state& s = fds_[static_cast<std::size_t>(fd)];
        if (s.entry != nullptr && !current(fd, s)) {
          drop(s);
        }
      }
    }
  }

  /// Registers `fd` (watch) in `s`, which current() checked; false with errno if refused.
  bool add(int fd, fd_state& s) {
    if (!watch(fd)) {
      return false;
    }
    s.registered = true;
    if (!s.published) {
      // Once per registration, so that a close on another thread finds this loop.
      s.entry->loops.fetch_or(fd_bit_, std::memory_order_acq_rel);
      s.published = true;
    }
    return true;
  }

  /// Whether a file op on `fd` waits for readiness (true) or runs on the pool. watch
  /// decides, once per descriptor: epoll refuses (EPERM) what has no poll method, and that is
  /// exactly what never waits for another party, only for the disk or not at all: regular
  /// files, directories, block devices, and character devices such as /dev/null. A block
  /// device belongs on the pool with regular files: its reads sleep uninterruptibly on the
  /// disk, and there is no readiness that could tell the loop when they would not.
  /// Everything epoll accepts (pipes, FIFOs, terminals, sockets) can wait forever for a
  /// peer, so it must be polled, which is what lets timeouts and aio::cancel reach it.
  bool pollable(int fd) {
    if (fd < 0) {
      return true;  // the system call reports EBADF
    }
    fd_state& s = state_of(fd);
    if (!current(fd, s)) [[unlikely]] {
      drop_stale(s);  // closed and reused: what watch said of the old file says nothing
    }
    if (s.registered) {
      return true;
    }
    if (s.unpollable) {
      return false;
    }
    if (add(fd, s)) {
      return true;
    }
    if (errno == EPERM) {
      s.unpollable = true;
      return false;
    }
    return true;  // EBADF and the like: the op's system call reports it
  }

  fd_state& state_of(int fd) {
    auto i = static_cast<std::size_t>(fd);
    if (i >= fds_.size()) {
      fds_.resize(i + 1 > fds_.size() * 2 ? i + 1 : fds_.size() * 2);
    }
    return fds_[i];
  }

  /// Takes `op` out of its wait list (or the heap) and completes it with `res`. A pool op
  /// can be withdrawn only while it waits for a worker; once started, a regular file's
  /// read or write cannot be interrupted, so it finishes and reports its own result (its
  /// deadline or cancel comes too late to change it).
  void withdraw(io_op& op, std::int64_t res) {
    if (op.st != io_op::state::in_flight) {
      return;
    }
    if (op.kind == op_kind::timer) {
      cancel_timer(op);
      return;
    }
    if (op.regular_file) {
      if (pool_->take_queued(op)) {
        --pool_ops_;
        complete(op, res);
      }
      return;
    }
    fd_state& s = state_of(op.fd);
    op_list& l = is_reader(op.kind) ? s.readers : s.writers;
    if (l.contains(op)) {
      l.remove(op);
    }
    complete(op, res);
  }

  /// Retries the first waiting ops of one direction of `fd` until one would block.
  /// Called on a readiness event: for readers, the descriptor is no longer known to block.
  void retry(int fd, bool readers) {
    if (readers && static_cast<std::size_t>(fd) < fds_.size()) {
      fds_[static_cast<std::size_t>(fd)].read_blocked = false;
    }
    for (;;) {
      if (static_cast<std::size_t>(fd) >= fds_.size()) {
        return;
      }
      fd_state& s = fds_[static_cast<std::size_t>(fd)];
      if (readers && s.read_blocked) {
        return;  // a reader tried meanwhile (a resumed coroutine's) and hit EAGAIN
      }
      op_list& l = readers ? s.readers : s.writers;
      io_op* op = l.head;
      if (op == nullptr) {
        return;
      }
      l.remove(*op);
      if (!try_now(*op)) {
        if (readers) {
          fds_[static_cast<std::size_t>(fd)].read_blocked = true;
        }
        // Still would block: back to the front, in order.
        op_list& again = readers ? fds_[static_cast<std::size_t>(fd)].readers
                                 : fds_[static_cast<std::size_t>(fd)].writers;
        op->next = again.head;
        op->prev = nullptr;
        if (again.head != nullptr) {
          again.head->prev = op;
        } else {
          again.tail = op;
        }
        again.head = op;
        return;
      }
    }
  }

  /// Tries `op`'s system call; completes it and returns true unless it would block.
  bool try_now(io_op& op) {
    ssize_t n = 0;
    for (;;) {
      switch (op.kind) {
        case op_kind::accept:
          n = raw::accept4(op.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          break;
        case op_kind::connect:
          if (!op.connecting) {
            n = ::connect(op.fd, static_cast<const sockaddr*>(op.buf),
                          static_cast<socklen_t>(op.len));
            if (n < 0 && errno == EINPROGRESS) {
              op.connecting = true;
              errno = EAGAIN;
            }
          } else {
            int err = 0;
            socklen_t len = sizeof err;
            pollfd p{op.fd, POLLOUT, 0};
            if (::poll(&p, 1, 0) == 0) {
              errno = EAGAIN;
              n = -1;
              break;
            }
            getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            n = err == 0 ? 0 : -1;
            errno = err;
          }
          break;
        case op_kind::recv:
          n = raw::recv(op.fd, op.buf, op.len, 0);
          break;
        case op_kind::send:
          n = raw::send(op.fd, op.buf, op.len, MSG_NOSIGNAL);
          break;
        case op_kind::recvmsg:
          n = raw::recvmsg(op.fd, static_cast<msghdr*>(op.buf), 0);
          break;
        case op_kind::sendmsg:
          n = raw::sendmsg(op.fd, static_cast<const msghdr*>(op.buf), MSG_NOSIGNAL);
          break;
        case op_kind::read:
          n = op.offset == current_offset
                  ? raw::read(op.fd, op.buf, op.len)
                  : raw::pread(op.fd, op.buf, op.len, static_cast<off_t>(op.offset));
          break;
        case op_kind::write:
          n = op.offset == current_offset
                  ? raw::write(op.fd, op.buf, op.len)
                  : raw::pwrite(op.fd, op.buf, op.len, static_cast<off_t>(op.offset));
          break;
        case op_kind::poll_in: {
          pollfd p{op.fd, POLLIN, 0};
          n = ::poll(&p, 1, 0);
          if (n == 0) {
            errno = EAGAIN;
            n = -1;
          } else if (n > 0) {
            n = 0;
          }
          break;
        }
        case op_kind::timer:
          return false;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      break;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return false;
    }
    complete(op, n < 0 ? -errno : n);
    return true;
  }

  void drain_pool() {
    std::uint64_t count = 0;
    ssize_t ignored = ::read(wake_fd_, &count, sizeof count);
    (void)ignored;
    op_list done = pool_->take_done();
    while (io_op* op = done.head) {
      done.remove(*op);
      --pool_ops_;
      complete(*op, op->res);
    }
  }

  std::vector<fd_state> fds_;
  // Numbers other threads closed after this loop watched them (closing_elsewhere).
  std::mutex closed_mu_;
  std::vector<int> closed_;                 // under closed_mu_
  std::atomic<bool> closed_posted_{false};  // closed_ may be non-empty
  std::unique_ptr<file_pool> pool_;
  std::size_t pool_ops_ = 0;
  bool joined_ = false;
};

}  // namespace xcoro::aio::detail
