// Sockets: endpoint parsing and formatting, TCP and UDP. Each blocking call is one io_op
// on the caller's stack (see backend.hpp); setup calls (socket, bind, listen) are plain
// system calls.
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

namespace xcoro::aio {
namespace {

std::error_code last_error() {
  return std::error_code(errno, std::system_category());
}

/// Puts `fd` in the blocking mode the backend wants.
void set_mode(detail::io_backend& b, int fd) noexcept {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    return;
  }
  int want = b.wants_nonblocking() ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags) {
    fcntl(fd, F_SETFL, want);
  }
}

result<int> open_socket(executor& ex, const endpoint& family_of, int type) {
  int fd = ::socket(family_of.family(), type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return last_error();
  }
  set_mode(ex.get_loop().impl(), fd);
  return fd;
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

void set_deadline(detail::io_op& op, const milliseconds* timeout) noexcept {
  if (timeout != nullptr) {
    op.deadline_ns = detail::deadline_of(timeout);
  }
}

/// One data-transfer op on a socket.
result<std::size_t> transfer(executor* ex, const char* call, detail::op_kind kind, int fd,
                             void* buf, std::size_t len, const milliseconds* timeout) {
  executor& e = detail::resolve_op(ex, call);
  detail::io_op op(e.get_loop().impl(), kind, fd);
  op.buf = buf;
  op.len = len;
  set_deadline(op, timeout);
  return detail::to_size(op, detail::execute(e, op));
}

result<std::size_t> read_socket(executor* ex, int fd, std::span<std::byte> buf,
                                const milliseconds* timeout) {
  result<std::size_t> r =
      transfer(ex, "tcp::read", detail::op_kind::recv, fd, buf.data(), buf.size(), timeout);
  if (r && *r == 0 && !buf.empty()) {
    return errc::eof;
  }
  return r;
}

result<void> write_all_socket(executor* ex, int fd, std::span<const std::byte> buf,
                              const milliseconds* timeout) {
  std::int64_t deadline = detail::deadline_of(timeout);
  while (!buf.empty()) {
    milliseconds left{0};
    const milliseconds* t = detail::time_left(deadline, left);
    result<std::size_t> n = transfer(ex, "tcp::write_all", detail::op_kind::send, fd,
                                     const_cast<std::byte*>(buf.data()), buf.size(), t);
    if (!n) {
      return n.error();
    }
    buf = buf.subspan(*n);
  }
  return {};
}

result<tcp> accept_on(executor* ex, int fd, const milliseconds* timeout) {
  executor& e = detail::resolve_op(ex, "tcp::accept");
  detail::io_op op(e.get_loop().impl(), detail::op_kind::accept, fd);
  set_deadline(op, timeout);
  result<std::size_t> r = detail::to_size(op, detail::execute(e, op));
  if (!r) {
    return r.error();
  }
  return tcp(ex, static_cast<int>(*r));
}

result<void> connect_to(executor* ex, int fd, const endpoint& to, const milliseconds* timeout) {
  executor& e = detail::resolve_op(ex, "tcp::connect");
  detail::io_op op(e.get_loop().impl(), detail::op_kind::connect, fd);
  op.addr = static_cast<const sockaddr*>(to.data());
  op.addrlen = static_cast<socklen_t>(to.size());
  set_deadline(op, timeout);
  result<std::size_t> r = detail::to_size(op, detail::execute(e, op));
  if (!r) {
    return r.error();
  }
  return {};
}

result<std::pair<std::size_t, endpoint>> recv_from(executor* ex, int fd, std::span<std::byte> buf,
                                                   const milliseconds* timeout) {
  executor& e = detail::resolve_op(ex, "udp::read");
  // The message header and the sender's address live here, beside the op: the kernel
  // writes them until the op completes, and the op cannot outlive this frame.
  iovec iov{buf.data(), buf.size()};
  sockaddr_storage peer{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_name = &peer;
  msg.msg_namelen = sizeof peer;
  detail::io_op op(e.get_loop().impl(), detail::op_kind::recvmsg, fd);
  op.msg = &msg;
  set_deadline(op, timeout);
  result<std::size_t> r = detail::to_size(op, detail::execute(e, op));
  if (!r) {
    return r.error();
  }
  return std::make_pair(*r, endpoint::from_sockaddr(&peer, msg.msg_namelen));
}

result<std::size_t> send_to(executor* ex, int fd, const endpoint& to,
                            std::span<const std::byte> buf, const milliseconds* timeout) {
  executor& e = detail::resolve_op(ex, "udp::write");
  iovec iov{const_cast<std::byte*>(buf.data()), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_name = const_cast<void*>(to.data());
  msg.msg_namelen = static_cast<socklen_t>(to.size());
  detail::io_op op(e.get_loop().impl(), detail::op_kind::sendmsg, fd);
  op.msg = &msg;
  set_deadline(op, timeout);
  return detail::to_size(op, detail::execute(e, op));
}

}  // namespace

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
  result<int> fd = open_socket(detail::resolve(ex, "tcp::open"), family_of, SOCK_STREAM);
  if (!fd) {
    return fd.error();
  }
  return tcp(ex, *fd);
}

tcp::tcp(executor* ex, int fd) noexcept : descriptor(ex, fd) {
  if (fd >= 0) {
    set_mode(detail::resolve(ex, "tcp").get_loop().impl(), fd);
  }
}

result<void> tcp::bind(const endpoint& e) {
  return bind_with(fd_, e, false);
}

result<void> tcp::listen(int backlog) {
  if (::listen(fd_, backlog) < 0) {
    return last_error();
  }
  return {};
}

result<endpoint> tcp::local_endpoint() const {
  return local_of(fd_);
}

result<tcp> tcp::accept() {
  return accept_on(ex_, fd_, nullptr);
}
result<tcp> tcp::accept(milliseconds timeout) {
  return accept_on(ex_, fd_, &timeout);
}
result<void> tcp::connect(const endpoint& e) {
  return connect_to(ex_, fd_, e, nullptr);
}
result<void> tcp::connect(const endpoint& e, milliseconds timeout) {
  return connect_to(ex_, fd_, e, &timeout);
}
result<std::size_t> tcp::read(std::span<std::byte> buf) {
  return read_socket(ex_, fd_, buf, nullptr);
}
result<std::size_t> tcp::read(std::span<std::byte> buf, milliseconds timeout) {
  return read_socket(ex_, fd_, buf, &timeout);
}
result<std::size_t> tcp::write(std::span<const std::byte> buf) {
  return transfer(ex_, "tcp::write", detail::op_kind::send, fd_,
                  const_cast<std::byte*>(buf.data()), buf.size(), nullptr);
}
result<std::size_t> tcp::write(std::span<const std::byte> buf, milliseconds timeout) {
  return transfer(ex_, "tcp::write", detail::op_kind::send, fd_,
                  const_cast<std::byte*>(buf.data()), buf.size(), &timeout);
}
result<void> tcp::write_all(std::span<const std::byte> buf) {
  return write_all_socket(ex_, fd_, buf, nullptr);
}
result<void> tcp::write_all(std::span<const std::byte> buf, milliseconds timeout) {
  return write_all_socket(ex_, fd_, buf, &timeout);
}

result<void> tcp::shutdown() {
  if (::shutdown(fd_, SHUT_WR) < 0) {
    return last_error();
  }
  return {};
}


// ---------------------------------------------------------------------------------------
// udp

result<udp> udp::open(executor* ex, const endpoint& family_of) {
  result<int> fd = open_socket(detail::resolve(ex, "udp::open"), family_of, SOCK_DGRAM);
  if (!fd) {
    return fd.error();
  }
  return udp(ex, *fd);
}

udp::udp(executor* ex, int fd) noexcept : descriptor(ex, fd) {
  if (fd >= 0) {
    set_mode(detail::resolve(ex, "udp").get_loop().impl(), fd);
  }
}

result<void> udp::bind(const endpoint& e) {
  return bind_with(fd_, e, true);
}

result<endpoint> udp::local_endpoint() const {
  return local_of(fd_);
}

result<std::size_t> udp::read(std::span<std::byte> buf) {
  auto r = recv_from(ex_, fd_, buf, nullptr);
  if (!r) {
    return r.error();
  }
  return r->first;
}
result<std::size_t> udp::read(std::span<std::byte> buf, milliseconds timeout) {
  auto r = recv_from(ex_, fd_, buf, &timeout);
  if (!r) {
    return r.error();
  }
  return r->first;
}
result<std::pair<std::size_t, endpoint>> udp::read_from(std::span<std::byte> buf) {
  return recv_from(ex_, fd_, buf, nullptr);
}
result<std::pair<std::size_t, endpoint>> udp::read_from(std::span<std::byte> buf,
                                                        milliseconds timeout) {
  return recv_from(ex_, fd_, buf, &timeout);
}
result<std::size_t> udp::write(const endpoint& to, std::span<const std::byte> buf) {
  return send_to(ex_, fd_, to, buf, nullptr);
}
result<std::size_t> udp::write(const endpoint& to, std::span<const std::byte> buf,
                               milliseconds timeout) {
  return send_to(ex_, fd_, to, buf, &timeout);
}

}  // namespace xcoro::aio
