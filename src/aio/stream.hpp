// The stream calls, written once: read, write and write_all over a descriptor and the op
// kinds of its family (recv and send for sockets, read and write for pipes and files). tcp,
// unix_socket, file and the pipe ends are one-line front ends over these. Each call is one
// op through run_op, or for write_all one op per partial write, all under the call's one
// deadline. Inline templates over the family, so that a read or write is the op and nothing
// else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "aio/backend.hpp"

namespace xcoro::aio::detail {

/// A family of streams: its op kinds, and what a read of no bytes means.
struct stream_kind {
  op_kind read;
  op_kind write;
  bool file;  // an aio::file op: on epoll polled when it can be, else on the thread pool
  bool eof;   // a read of 0 bytes into a non-empty buffer is errc::eof (end of stream)
};

inline constexpr stream_kind socket_stream{op_kind::recv, op_kind::send, false, true};
inline constexpr stream_kind pipe_stream{op_kind::read, op_kind::write, true, true};
/// A file's read of 0 bytes is its end, reported as 0 (pread past the end included).
inline constexpr stream_kind file_stream{op_kind::read, op_kind::write, true, false};

/// One op of `kind` (K's read or write) moving `len` bytes at `buf`; `offset` is a file's
/// (current_offset: its position), ignored for a socket.
template <stream_kind K>
inline result<std::size_t> stream_op(aio::executor* ex, const char* call, op_kind kind, int fd,
                                     void* buf, std::size_t len, std::uint64_t offset,
                                     io_deadline d) {
  return run_op(ex, call, kind, fd, d, [&](io_op& op) {
    op.buf = buf;
    op.len = len;
    if constexpr (K.file) {
      op.offset = offset;
      op.file = true;  // the backend decides: epoll polls what it can, pools the rest
    }
  });
}

/// Reads what is available, at least one byte; errc::eof at the end where K says so.
template <stream_kind K>
inline result<std::size_t> stream_read(aio::executor* ex, const char* call, int fd,
                                       std::span<std::byte> buf, io_deadline d,
                                       std::uint64_t offset = current_offset) {
  result<std::size_t> r = stream_op<K>(ex, call, K.read, fd, buf.data(), buf.size(), offset, d);
  if constexpr (K.eof) {
    if (r && *r == 0 && !buf.empty()) {
      return errc::eof;
    }
  }
  return r;
}

/// One write (send with MSG_NOSIGNAL for a socket); may write less than `buf`.
template <stream_kind K>
inline result<std::size_t> stream_write(aio::executor* ex, const char* call, int fd,
                                        std::span<const std::byte> buf, io_deadline d,
                                        std::uint64_t offset = current_offset) {
  return stream_op<K>(ex, call, K.write, fd, const_cast<std::byte*>(buf.data()), buf.size(),
                      offset, d);
}

/// Writes all of `buf`, looping over partial writes, each under the call's deadline. On an
/// error the bytes before it have been written.
template <stream_kind K>
inline result<void> stream_write_all(aio::executor* ex, const char* call, int fd,
                                     std::span<const std::byte> buf, io_deadline d) {
  while (!buf.empty()) {
    result<std::size_t> n = stream_write<K>(ex, call, fd, buf, d);
    if (!n) {
      return n.error();
    }
    if (*n == 0) {
      // A write of a non-empty buffer that returns 0 makes no progress; looping would spin.
      return std::make_error_code(std::errc::io_error);
    }
    buf = buf.subspan(*n);
  }
  return {};
}

}  // namespace xcoro::aio::detail
