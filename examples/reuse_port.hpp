// The --threads mode of the example servers: one listener per worker on the same port
// (SO_REUSEPORT), the kernel spreading incoming connections over them.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

#include <xcoro/aio.hpp>

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

}  // namespace reuse_port
