// Sockets: endpoint parsing and formatting, the stream calls tcp and unix_socket share
// (socket.hpp), TCP and UDP. Each blocking call is one io_op on the caller's stack (see
// backend.hpp); setup calls (socket, bind, listen) are plain system calls.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "aio/backend.hpp"
#include "aio/socket.hpp"
#include "aio/stream.hpp"

namespace xcoro::aio {
namespace {

using detail::io_deadline;
using detail::socket_stream;

std::error_code last_error() {
  return std::error_code(errno, std::system_category());
}

result<endpoint> local_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) {
    return last_error();
  }
  return endpoint::from_sockaddr(&ss, len);
}

result<void> bind_with(int fd, const endpoint& e, bool reuse_port) {
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  if (::bind(fd, static_cast<const sockaddr*>(e.data()), static_cast<socklen_t>(e.size())) < 0) {
    return last_error();
  }
  return {};
}

result<std::pair<std::size_t, endpoint>> recv_from(executor* ex, int fd, std::span<std::byte> buf,
                                                   io_deadline d) {
  // The message header and the sender's address live here, beside the op: the kernel
  // writes them until the op completes, and the op cannot outlive this frame.
  iovec iov{buf.data(), buf.size()};
  sockaddr_storage peer{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_name = &peer;
  msg.msg_namelen = sizeof peer;
  result<std::size_t> r =
      detail::run_op(ex, "udp::read", detail::op_kind::recvmsg, fd, d,
                     [&](detail::io_op& op) { op.buf = &msg; });
  if (!r) {
    return r.error();
  }
  return std::make_pair(*r, endpoint::from_sockaddr(&peer, msg.msg_namelen));
}

result<std::size_t> send_to(executor* ex, int fd, const endpoint& to,
                            std::span<const std::byte> buf, io_deadline d) {
  iovec iov{const_cast<std::byte*>(buf.data()), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_name = const_cast<void*>(to.data());
  msg.msg_namelen = static_cast<socklen_t>(to.size());
  return detail::run_op(ex, "udp::write", detail::op_kind::sendmsg, fd, d,
                        [&](detail::io_op& op) { op.buf = &msg; });
}

result<tcp> accept_tcp(executor* ex, int fd, io_deadline d) {
  result<int> s = detail::socket_accept(ex, "tcp::accept", fd, d);
  if (!s) {
    return s.error();
  }
  return tcp(ex, *s);
}

result<void> connect_tcp(executor* ex, int fd, const endpoint& e, io_deadline d) {
  return detail::socket_connect(ex, "tcp::connect", fd, static_cast<const sockaddr*>(e.data()),
                                static_cast<socklen_t>(e.size()), d);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// stream sockets (tcp, unix_socket): src/aio/socket.hpp

namespace detail {

void set_socket_mode(io_backend& b, int fd) noexcept {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    return;
  }
  int want = b.wants_nonblocking() ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags) {
    fcntl(fd, F_SETFL, want);
  }
}

result<int> open_socket(executor& ex, int family, int type) {
  int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return last_error();
  }
  set_socket_mode(ex.get_loop().impl(), fd);
  return fd;
}

result<void> socket_listen(int fd, int backlog) {
  if (::listen(fd, backlog) < 0) {
    return last_error();
  }
  return {};
}

result<void> socket_shutdown(int fd) {
  if (::shutdown(fd, SHUT_WR) < 0) {
    return last_error();
  }
  return {};
}

result<int> socket_accept(executor* ex, const char* call, int fd, io_deadline d) {
  result<std::size_t> r = run_op(ex, call, op_kind::accept, fd, d, [](io_op&) {});
  if (!r) {
    return r.error();
  }
  return static_cast<int>(*r);
}

result<void> socket_connect(executor* ex, const char* call, int fd, const sockaddr* addr,
                            socklen_t addrlen, io_deadline d) {
  result<std::size_t> r = run_op(ex, call, op_kind::connect, fd, d, [&](io_op& op) {
    op.buf = const_cast<sockaddr*>(addr);  // read, never written
    op.len = addrlen;
  });
  if (!r) {
    return r.error();
  }
  return {};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// descriptor

namespace detail {

descriptor& descriptor::operator=(descriptor&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) {
      (void)close();  // as a destructor would: nobody to report a failed close to
    }
    ex_ = o.ex_;
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

descriptor::~descriptor() {
  if (fd_ >= 0) {
    (void)close();  // a destructor cannot report; call close() to see its error
  }
}

result<void> descriptor::close() {
  if (fd_ < 0) {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  // Ops still waiting on it end with EBADF rather than waiting forever, on this worker's
  // loop and on any other that registered it.
  before_close(&resolve(ex_, "close").get_loop().impl(), "close", fd_);
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc < 0 && errno != EINTR) {
    return last_error();
  }
  return {};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// endpoint

endpoint::endpoint() noexcept {
  std::memset(storage_, 0, sizeof storage_);
}

endpoint endpoint::from_sockaddr(const void* sa, std::size_t len) noexcept {
  endpoint e;
  std::size_t n = len < sizeof e.storage_ ? len : sizeof e.storage_;
  std::memcpy(e.storage_, sa, n);
  e.len_ = static_cast<std::uint32_t>(n);
  return e;
}

result<endpoint> endpoint::parse(std::string_view text) {
  auto invalid = std::make_error_code(std::errc::invalid_argument);
  std::string_view host;
  std::string_view port_text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    v6 = true;
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return invalid;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty()) {
    return invalid;
  }
  char host_z[64];
  if (host.size() >= sizeof host_z) {
    return invalid;
  }
  std::memcpy(host_z, host.data(), host.size());
  host_z[host.size()] = '\0';
  endpoint e;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET6, host_z, &a.sin6_addr) != 1) {
      return invalid;
    }
    return from_sockaddr(&a, sizeof a);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host_z, &a.sin_addr) != 1) {
    return invalid;
  }
  return from_sockaddr(&a, sizeof a);
}

int endpoint::family() const noexcept {
  sa_family_t f;
  std::memcpy(&f, storage_, sizeof f);
  return f;
}

std::uint16_t endpoint::port() const noexcept {
  if (family() == AF_INET6) {
    sockaddr_in6 a;
    std::memcpy(&a, storage_, sizeof a);
    return ntohs(a.sin6_port);
  }
  sockaddr_in a;
  std::memcpy(&a, storage_, sizeof a);
  return ntohs(a.sin_port);
}

std::string endpoint::to_string() const {
  char host[INET6_ADDRSTRLEN] = "?";
  char text[INET6_ADDRSTRLEN + 10];
  if (family() == AF_INET6) {
    sockaddr_in6 a;
    std::memcpy(&a, storage_, sizeof a);
    inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    std::snprintf(text, sizeof text, "[%s]:%u", host, static_cast<unsigned>(port()));
  } else {
    sockaddr_in a;
    std::memcpy(&a, storage_, sizeof a);
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    std::snprintf(text, sizeof text, "%s:%u", host, static_cast<unsigned>(port()));
  }
  return text;
}

// ---------------------------------------------------------------------------------------
// tcp

result<tcp> tcp::open(executor* ex, const endpoint& family_of) {
  result<int> fd = detail::open_socket(detail::resolve(ex, "tcp::open"), family_of.family(),
                                       SOCK_STREAM);
  if (!fd) {
    return fd.error();
  }
  return tcp(ex, *fd);
}

tcp::tcp(executor* ex, int fd) noexcept : descriptor(ex, fd) {
  if (fd >= 0) {
    detail::set_socket_mode(detail::resolve(ex, "tcp").get_loop().impl(), fd);
  }
}

result<void> tcp::bind(const endpoint& e) {
  return bind_with(fd_, e, false);
}

result<void> tcp::listen(int backlog) {
  return detail::socket_listen(fd_, backlog);
}

result<endpoint> tcp::local_endpoint() const {
  return local_of(fd_);
}

result<tcp> tcp::accept() {
  return accept_tcp(ex_, fd_, {});
}
result<tcp> tcp::accept(milliseconds timeout) {
  return accept_tcp(ex_, fd_, timeout);
}
result<void> tcp::connect(const endpoint& e) {
  return connect_tcp(ex_, fd_, e, {});
}
result<void> tcp::connect(const endpoint& e, milliseconds timeout) {
  return connect_tcp(ex_, fd_, e, timeout);
}
result<std::size_t> tcp::read(std::span<std::byte> buf) {
  return detail::stream_read<socket_stream>(ex_, "tcp::read", fd_, buf, {});
}
result<std::size_t> tcp::read(std::span<std::byte> buf, milliseconds timeout) {
  return detail::stream_read<socket_stream>(ex_, "tcp::read", fd_, buf, timeout);
}
result<std::size_t> tcp::write(std::span<const std::byte> buf) {
  return detail::stream_write<socket_stream>(ex_, "tcp::write", fd_, buf, {});
}
result<std::size_t> tcp::write(std::span<const std::byte> buf, milliseconds timeout) {
  return detail::stream_write<socket_stream>(ex_, "tcp::write", fd_, buf, timeout);
}
result<void> tcp::write_all(std::span<const std::byte> buf) {
  return detail::stream_write_all<socket_stream>(ex_, "tcp::write_all", fd_, buf, {});
}
result<void> tcp::write_all(std::span<const std::byte> buf, milliseconds timeout) {
  return detail::stream_write_all<socket_stream>(ex_, "tcp::write_all", fd_, buf, timeout);
}

result<void> tcp::shutdown() {
  return detail::socket_shutdown(fd_);
}

// ---------------------------------------------------------------------------------------
// udp

result<udp> udp::open(executor* ex, const endpoint& family_of) {
  result<int> fd = detail::open_socket(detail::resolve(ex, "udp::open"), family_of.family(),
                                       SOCK_DGRAM);
  if (!fd) {
    return fd.error();
  }
  return udp(ex, *fd);
}

udp::udp(executor* ex, int fd) noexcept : descriptor(ex, fd) {
  if (fd >= 0) {
    detail::set_socket_mode(detail::resolve(ex, "udp").get_loop().impl(), fd);
  }
}

result<void> udp::bind(const endpoint& e) {
  return bind_with(fd_, e, true);
}

result<endpoint> udp::local_endpoint() const {
  return local_of(fd_);
}

result<std::size_t> udp::read(std::span<std::byte> buf) {
  auto r = recv_from(ex_, fd_, buf, {});
  if (!r) {
    return r.error();
  }
  return r->first;
}
result<std::size_t> udp::read(std::span<std::byte> buf, milliseconds timeout) {
  auto r = recv_from(ex_, fd_, buf, timeout);
  if (!r) {
    return r.error();
  }
  return r->first;
}
result<std::pair<std::size_t, endpoint>> udp::read_from(std::span<std::byte> buf) {
  return recv_from(ex_, fd_, buf, {});
}
result<std::pair<std::size_t, endpoint>> udp::read_from(std::span<std::byte> buf,
                                                        milliseconds timeout) {
  return recv_from(ex_, fd_, buf, timeout);
}
result<std::size_t> udp::write(const endpoint& to, std::span<const std::byte> buf) {
  return send_to(ex_, fd_, to, buf, {});
}
result<std::size_t> udp::write(const endpoint& to, std::span<const std::byte> buf,
                               milliseconds timeout) {
  return send_to(ex_, fd_, to, buf, timeout);
}

}  // namespace xcoro::aio
