// The calls that stream sockets share, whatever their address family: tcp and unix_socket
// are thin front ends over these (src/aio/net.cpp defines them). Each blocking call is one
// io_op on the caller's stack; `call` names the public call in the abort message of an op
// made from the wrong thread.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <span>

#include "xcoro/aio.hpp"
#include "xcoro/result.hpp"

namespace xcoro::aio::detail {

class io_backend;

/// Puts `fd` in the blocking mode the backend wants.
void set_socket_mode(io_backend& b, int fd) noexcept;
/// A new socket of `family` and `type` (SOCK_CLOEXEC added), in the mode `ex`'s backend wants.
result<int> open_socket(aio::executor& ex, int family, int type);

result<void> socket_listen(int fd, int backlog);
/// Shuts down the send side.
result<void> socket_shutdown(int fd);
/// Accepts one connection; the new descriptor (SOCK_CLOEXEC), not yet in the backend's mode.
result<int> socket_accept(aio::executor* ex, const char* call, int fd,
                          const milliseconds* timeout);
/// Connects `fd` to `addr`, which must stay valid for the call.
result<void> socket_connect(aio::executor* ex, const char* call, int fd, const sockaddr* addr,
                            socklen_t addrlen, const milliseconds* timeout);
/// Reads what is available, at least one byte; errc::eof at end of stream.
result<std::size_t> socket_read(aio::executor* ex, const char* call, int fd,
                                std::span<std::byte> buf, const milliseconds* timeout);
/// One send (MSG_NOSIGNAL); may write less than `buf`.
result<std::size_t> socket_write(aio::executor* ex, const char* call, int fd,
                                 std::span<const std::byte> buf, const milliseconds* timeout);
/// Sends all of `buf`; the timeout bounds the whole call.
result<void> socket_write_all(aio::executor* ex, const char* call, int fd,
                              std::span<const std::byte> buf, const milliseconds* timeout);

}  // namespace xcoro::aio::detail
