// The socket calls that tcp and unix_socket share, whatever their address family
// (src/aio/net.cpp defines them); their reads and writes are the stream calls of
// stream.hpp. Each blocking call is one op through run_op; `call` names the public call in
// the abort message of an op made from the wrong thread.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <span>

#include "xcoro/aio.hpp"
#include "xcoro/detail/deadline.hpp"
#include "xcoro/result.hpp"

namespace xcoro::aio::detail {

class io_backend;
using xcoro::detail::io_deadline;

/// Puts `fd` in the blocking mode the backend wants.
void set_socket_mode(io_backend& b, int fd) noexcept;
/// A new socket of `family` and `type` (SOCK_CLOEXEC added), in the mode `ex`'s backend wants.
result<int> open_socket(aio::executor& ex, int family, int type);

result<void> socket_listen(int fd, int backlog);
/// Shuts down the send side.
result<void> socket_shutdown(int fd);
/// Accepts one connection; the new descriptor (SOCK_CLOEXEC), not yet in the backend's mode.
result<int> socket_accept(aio::executor* ex, const char* call, int fd, io_deadline d);
/// Connects `fd` to `addr`, which must stay valid for the call.
result<void> socket_connect(aio::executor* ex, const char* call, int fd, const sockaddr* addr,
                            socklen_t addrlen, io_deadline d);

}  // namespace xcoro::aio::detail
