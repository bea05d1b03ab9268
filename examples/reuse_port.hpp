// The --threads mode of the example servers: one listener per worker on the same port
// (SO_REUSEPORT), the kernel spreading incoming connections over them.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <xcoro/aio.hpp>
#include <xcoro/runtime.hpp>

namespace reuse_port {

/// A socket bound to 127.0.0.1:port with SO_REUSEPORT and not listening: it holds the port
/// (0: the kernel picks one) until the servers' listeners are on it, and takes no
/// connections itself. Closed by release() or when destroyed.
class port_hold {
 public:
  static xcoro::result<port_hold> bind(const std::string& port) {
    auto at = xcoro::aio::endpoint::parse("127.0.0.1:" + port);
    if (!at) {
      return at.error();
    }
    port_hold h(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    if (h.fd_ < 0 || ::setsockopt(h.fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        ::bind(h.fd_, static_cast<const sockaddr*>(at->data()),
               static_cast<socklen_t>(at->size())) != 0) {
      return std::error_code(errno, std::system_category());
    }
    sockaddr_storage got{};
    socklen_t len = sizeof got;
    if (::getsockname(h.fd_, reinterpret_cast<sockaddr*>(&got), &len) != 0) {
      return std::error_code(errno, std::system_category());
    }
    h.port_ = xcoro::aio::endpoint::from_sockaddr(&got, len).port();
    return h;
  }
  port_hold(port_hold&& o) noexcept : fd_(std::exchange(o.fd_, -1)), port_(o.port_) {}
  port_hold& operator=(port_hold&&) = delete;
  ~port_hold() { release(); }

  std::uint16_t port() const noexcept { return port_; }
  void release() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  explicit port_hold(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// A listening socket on 127.0.0.1:port that other sockets of this process may share.
inline xcoro::result<xcoro::aio::tcp> listener(std::uint16_t port) {
  auto at = *xcoro::aio::endpoint::parse("127.0.0.1:" + std::to_string(port));
  auto l = xcoro::aio::tcp::open(nullptr, at);
  if (!l) {
    return l;
  }
  int one = 1;
  if (::setsockopt(l->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return std::error_code(errno, std::system_category());
  }
  if (auto r = l->bind(at); !r) {
    return r.error();
  }
  if (auto r = l->listen(1024); !r) {
    return r.error();
  }
  return l;
}

/// What the servers of a --threads run share: one server per worker, each its own listener
/// on `port` and its accept loop, until cancelled.
struct fleet {
  explicit fleet(unsigned n) : servers(n) {}
  std::uint16_t port = 0;
  std::vector<std::atomic<xcoro::frame>> servers;  // each server's coroutine, once listening
  std::atomic<unsigned> listening{0};
  std::atomic<unsigned> finished{0};              // servers that returned (failed included)
  std::atomic<unsigned> failed{0};
  std::atomic<std::uint64_t> on_workers{0};       // a bit per worker that runs a server
  std::vector<std::thread> callers;               // each server's block_on caller
};

/// One worker's server, run by block_on: its own listener on the shared port and
/// `accept_loop(&listener, args...)`, which returns when cancelled, its connections finished.
template <class AcceptLoop, class... Args>
void serve_on_worker(fleet& f, unsigned index, AcceptLoop accept_loop, Args... args) {
  if (auto l = listener(f.port)) {
    f.on_workers.fetch_or(std::uint64_t{1} << (xcoro::this_worker() % 64));
    f.servers[index].store(xcoro::xframe());
    ++f.listening;
    accept_loop(&*l, args...);
  } else {
    ++f.failed;
  }
  ++f.finished;
}

/// Starts f's servers on `rt`, one per worker: holds 127.0.0.1:port (0: a free one, then in
/// f.port), then makes one block_on call per server, each from a thread of its own in
/// f.callers (block_on gives its calls to the workers in turn, so N calls put one server on
/// each of N workers), and returns once every server listens or failed (f.failed). An error
/// if the port cannot be bound: then no server is started.
template <class AcceptLoop, class... Args>
std::error_code start(xcoro::runtime& rt, const std::string& port, fleet& f,
                      AcceptLoop accept_loop, Args... args) {
  auto held = port_hold::bind(port);
  if (!held) {
    return held.error();
  }
  f.port = held->port();
  for (unsigned i = 0; i < f.servers.size(); ++i) {
    f.callers.emplace_back([&rt, &f, i, accept_loop, args...] {
      (void)rt.block_on([&] { serve_on_worker(f, i, accept_loop, args...); });
    });
  }
  while (f.listening + f.failed < f.servers.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return {};
}

/// Cancels every server (each on its own worker: the request is posted there). A server
/// returns only once cancelled, so none of these coroutines has been freed yet.
inline void cancel_all(fleet& f) {
  for (auto& s : f.servers) {
    if (xcoro::frame c = s.exchange(nullptr)) {
      xcoro::cancel(c);
    }
  }
}

/// From a thread that is not a worker: cancels every server still running and waits until
/// all have returned, their connections finished.
inline void stop(fleet& f) {
  cancel_all(f);
  for (auto& c : f.callers) {
    c.join();
  }
  f.callers.clear();
}

}  // namespace reuse_port
