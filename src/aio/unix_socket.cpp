// Unix domain stream sockets: the path or abstract name to a sockaddr_un, and thin front
// ends over the socket and stream calls tcp uses (socket.hpp, stream.hpp), so that both
// behave the same.
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "aio/backend.hpp"
#include "aio/socket.hpp"
#include "aio/stream.hpp"
#include "xcoro/detail/wait_queue.hpp"

namespace xcoro::aio {
namespace {

using detail::socket_stream;

/// A sockaddr_un and its length, built from a path as bind and connect take it.
struct unix_address {
  sockaddr_un sun{};
  socklen_t len = 0;
};

/// '@name' is the abstract name "name" (sun_path[0] is '\0' and the length, not a
/// terminator, ends it); anything else is a filesystem path, '\0'-terminated. A path that
/// does not fit is an error, never truncated: a truncated name would bind or reach another
/// socket than the one asked for.
result<unix_address> address_of(std::string_view path) {
  if (path.empty() || path.find('\0') != std::string_view::npos) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  unix_address a;
  a.sun.sun_family = AF_UNIX;
  constexpr std::size_t room = sizeof a.sun.sun_path;  // 108 on Linux
  bool abstract = path.front() == '@';
  // Both forms spend one byte of sun_path besides the name: the leading '\0' of an abstract
  // name, or a path's terminator (Linux accepts a path of all 108 bytes without one, other
  // systems do not; 107 is the portable limit).
  std::string_view name = abstract ? path.substr(1) : path;
  if (name.size() + 1 > room) {
    return std::make_error_code(std::errc::filename_too_long);
  }
  if (abstract) {
    std::memcpy(a.sun.sun_path + 1, name.data(), name.size());
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  } else {
    std::memcpy(a.sun.sun_path, name.data(), name.size());
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
  }
  return a;
}

/// connect on the epoll backend. A non-blocking AF_UNIX connect to a listener whose
/// backlog is full fails with EAGAIN (not EINPROGRESS), and when the backlog drains the
/// kernel wakes only connectors blocked in connect, never a poller of the connecting
/// socket: the readiness wait of tcp's path would last until its timeout even after the
/// server accepted (seen on Linux 6.18; io_uring is not affected, its connect waits in the
/// kernel). So this tries the connect itself and, while the backlog is full, tries again
/// after a sleep on the loop that starts at 1 ms and doubles up to 64 ms. The sleeps are
/// the cancellation points.
result<void> connect_retrying(executor* ex, int fd, const unix_address& a,
                              detail::io_deadline deadline) {
  if (xcoro::detail::cancel_pending_here()) {
    return errc::canceled;  // a cancellation point like every blocking call, not only its sleeps
  }
  milliseconds backoff{1};
  for (;;) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.sun), a.len) == 0) {
      return {};
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN) {
      return std::error_code(errno, std::system_category());
    }
    milliseconds left{0};
    const milliseconds* t = deadline.remaining(left);
    if (t != nullptr && left.count() == 0) {
      return std::make_error_code(std::errc::timed_out);
    }
    if (result<void> slept = aio::sleep(ex, t != nullptr ? std::min(backoff, left) : backoff);
        !slept) {
      return slept.error();
    }
    backoff = std::min(backoff * 2, milliseconds(64));
  }
}

result<void> connect_to(executor* ex, int fd, std::string_view path, detail::io_deadline d) {
  result<unix_address> a = address_of(path);
  if (!a) {
    return a.error();
  }
  executor& e = detail::resolve_op(ex, "unix_socket::connect");
  if (e.get_loop().impl().wants_nonblocking()) {
    return connect_retrying(ex, fd, *a, d);
  }
  // `a` lives in this frame until the op completes, as connect needs.
  return detail::socket_connect(ex, "unix_socket::connect", fd,
                                reinterpret_cast<const sockaddr*>(&a->sun), a->len, d);
}

result<unix_socket> accept_on(executor* ex, int fd, detail::io_deadline d) {
  result<int> s = detail::socket_accept(ex, "unix_socket::accept", fd, d);
  if (!s) {
    return s.error();
  }
  return unix_socket(ex, *s);
}

}  // namespace

result<unix_socket> unix_socket::open(executor* ex) {
  result<int> fd =
      detail::open_socket(detail::resolve(ex, "unix_socket::open"), AF_UNIX, SOCK_STREAM);
  if (!fd) {
    return fd.error();
  }
  return unix_socket(ex, *fd);
}

unix_socket::unix_socket(executor* ex, int fd) noexcept : descriptor(ex, fd) {
  if (fd >= 0) {
    detail::set_socket_mode(detail::resolve(ex, "unix_socket").get_loop().impl(), fd);
  }
}

result<void> unix_socket::bind(std::string_view path) {
  result<unix_address> a = address_of(path);
  if (!a) {
    return a.error();
  }
  // The kernel already refuses an existing file (a stale socket too) with EADDRINUSE;
  // unlinking one first would take the name of a live server.
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&a->sun), a->len) < 0) {
    return std::error_code(errno, std::system_category());
  }
  return {};
}

result<void> unix_socket::listen(int backlog) {
  return detail::socket_listen(fd_, backlog);
}
result<unix_socket> unix_socket::accept() {
  return accept_on(ex_, fd_, {});
}
result<unix_socket> unix_socket::accept(milliseconds timeout) {
  return accept_on(ex_, fd_, timeout);
}
result<void> unix_socket::connect(std::string_view path) {
  return connect_to(ex_, fd_, path, {});
}
result<void> unix_socket::connect(std::string_view path, milliseconds timeout) {
  return connect_to(ex_, fd_, path, timeout);
}
result<std::size_t> unix_socket::read(std::span<std::byte> buf) {
  return detail::stream_read<socket_stream>(ex_, "unix_socket::read", fd_, buf, {});
}
result<std::size_t> unix_socket::read(std::span<std::byte> buf, milliseconds timeout) {
  return detail::stream_read<socket_stream>(ex_, "unix_socket::read", fd_, buf, timeout);
}
result<std::size_t> unix_socket::write(std::span<const std::byte> buf) {
  return detail::stream_write<socket_stream>(ex_, "unix_socket::write", fd_, buf, {});
}
result<std::size_t> unix_socket::write(std::span<const std::byte> buf, milliseconds timeout) {
  return detail::stream_write<socket_stream>(ex_, "unix_socket::write", fd_, buf,
                                             timeout);
}
result<void> unix_socket::write_all(std::span<const std::byte> buf) {
  return detail::stream_write_all<socket_stream>(ex_, "unix_socket::write_all", fd_, buf, {});
}
result<void> unix_socket::write_all(std::span<const std::byte> buf, milliseconds timeout) {
  return detail::stream_write_all<socket_stream>(ex_, "unix_socket::write_all", fd_, buf,
                                                 timeout);
}
result<void> unix_socket::shutdown() {
  return detail::socket_shutdown(fd_);
}

}  // namespace xcoro::aio
