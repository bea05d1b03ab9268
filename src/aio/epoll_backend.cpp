// The epoll backend: the readiness logic of readiness.hpp over one epoll instance. Each
// descriptor is registered once, edge-triggered for both directions (EPOLLET); the wake
// eventfd (the thread pool's, and the runtime's wake-up) is registered level-triggered. A
// blocking poll waits in epoll_pwait2 until an event or the earliest timer, after an
// optional busy-poll spin.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <mutex>

#include "aio/backend.hpp"
#include "aio/fd_table.hpp"
#include "aio/raw_syscall.hpp"
#include "aio/readiness.hpp"

namespace xcoro::aio::detail {
namespace {

class epoll_backend final : public readiness_backend {
 public:
  ~epoll_backend() override {
    leave_registry();
    if (epfd_ >= 0) {
      ::close(epfd_);
    }
  }

  std::error_code init() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
      return std::error_code(errno, std::system_category());
    }
    if (std::error_code ec = start_readiness()) {
      return ec;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev) < 0) {
      return std::error_code(errno, std::system_category());
    }
    return {};
  }

  aio::backend kind() const noexcept override { return aio::backend::epoll; }

  void poll(bool block) override {
    if (timers_expire()) {
      block = false;  // that may have been the last op in flight: nothing would wake us
    }
    epoll_event events[128];
    int n = 0;
    if (std::int64_t budget = block ? spin_budget_ns() : 0; budget > 0) {
      // Busy polling (loop_options::busy_poll): ask without sleeping until something is
      // ready or the budget is spent, then wait as usual.
      timespec zero{};
      std::int64_t end = now_ns() + budget;
      do {
        n = wait(events, 128, &zero);
      } while (n == 0 && now_ns() < end);
    }
    if (n == 0) {
      timespec ts{};  // zero: do not block
      timespec* tsp = &ts;
      std::int64_t began = 0;
      if (block) {
        // Bounded by the earliest timer, read after the spin, which used up part of it.
        std::int64_t wait = timer_wait_ns();
        if (wait < 0) {
          tsp = nullptr;
        } else {
          ts.tv_sec = wait / 1000000000;
          ts.tv_nsec = wait % 1000000000;
        }
        began = sleep_began();
      }
      n = wait(events, 128, tsp);
      if (block) {
        woke(began, n > 0);
      }
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        woken();
        continue;
      }
      std::uint32_t ev = events[i].events;
      ready(fd, (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0,
            (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0);
    }
    timers_expire();
    resume_ready();
  }

 protected:
  /// EEXIST: the number names a file this epoll instance still holds although this loop
  /// dropped its state (the same open file description came back under the number after
  /// an xcoro close elsewhere): it is re-armed.
  bool watch(int fd) override {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0 ||
           (errno == EEXIST && epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0);
  }
  void unwatch(int fd) noexcept override { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

 private:
  /// epoll_pwait2 (Linux 5.11) waits to the nanosecond; where it is missing (old kernels,
  /// qemu-user) epoll_wait with the timeout rounded up to milliseconds, never early.
  int wait(epoll_event* events, int max, const timespec* timeout) {
    if (have_pwait2_) {
      int n = raw::epoll_pwait2(epfd_, events, max, timeout);
      if (n >= 0 || errno != ENOSYS) {
        return n;
      }
      have_pwait2_ = false;
    }
    int ms = -1;
    if (timeout != nullptr) {
      std::int64_t ns = std::int64_t{timeout->tv_sec} * 1000000000 + timeout->tv_nsec;
      ms = static_cast<int>((ns + 999999) / 1000000);
    }
    return raw::epoll_wait(epfd_, events, max, ms);
  }

  int epfd_ = -1;
  bool have_pwait2_ = true;
};

}  // namespace

void before_close(io_backend* b, const char* call, int fd) noexcept {
  if (b != nullptr) {
    b->check_thread(call);
  }
  std::uint64_t others = 0;
  if (fd >= 0) {
    if (fd_entry* e = fd_table::find(fd)) {
      // The bump first: a loop that registers the number from now on records the new
      // generation, and any loop holding the old one sees that it is stale.
      e->gen.fetch_add(1, std::memory_order_acq_rel);
      std::uint64_t loops = e->loops.exchange(0, std::memory_order_acq_rel);
      // This loop's own bit is handled just below, unless other loops share it.
      others = b != nullptr ? loops & ~(b->fd_bit() & ~io_backend::overflow_bit) : loops;
    }
  }
  if (b != nullptr) {
    b->forget_for_caller(fd);
  }
  if (others != 0) [[unlikely]] {
    readiness_registry& r = registry();
    std::lock_guard<std::mutex> hold(r.mu);
    for (readiness_backend* l : r.live) {
      if (l != b && (l->fd_bit() & others) != 0) {
        l->closing_elsewhere(fd);
      }
    }
  }
}

std::unique_ptr<io_backend> make_epoll_backend(std::error_code& ec) {
  auto b = std::make_unique<epoll_backend>();
  ec = b->init();
  if (ec) {
    return nullptr;
  }
  return b;
}

}  // namespace xcoro::aio::detail
