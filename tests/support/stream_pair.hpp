// A connected stream socket pair for aio tests: the first end adopted by the env loop as an
// aio::tcp, the other a plain descriptor the test writes to or closes.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include "xcoro/aio.hpp"

namespace xcoro_test {

/// A connected stream socket pair; the first end is adopted by the loop.
struct stream_pair {
  std::optional<xcoro::aio::tcp> end;
  int peer = -1;
  stream_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
      end.emplace(nullptr, fds[0]);
      peer = fds[1];
    }
  }
  stream_pair(const stream_pair&) = delete;
  stream_pair& operator=(const stream_pair&) = delete;
  ~stream_pair() {
    if (peer >= 0) {
      ::close(peer);
    }
  }
};

}  // namespace xcoro_test
