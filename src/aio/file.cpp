// Files: open is a plain system call; reads and writes are the stream calls of stream.hpp
// (io_uring read/write; on epoll, readiness for what can be polled and the thread pool for
// the rest).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "aio/backend.hpp"
#include "aio/stream.hpp"

namespace xcoro::aio {
namespace {

using detail::file_stream;

/// For a pipe, FIFO or terminal (not a pty master, whose open makes a new pty), a new open
/// file description of the same object, opened through /proc/self/fd with `flags`' access
/// mode and O_APPEND, O_NOCTTY and the blocking mode `nonblock`; -1 where that cannot be
/// done (no /proc, a FIFO end with no peer yet, a socket or another device).
int reopen_private(int fd, const struct stat& st, int flags, bool nonblock) noexcept {
  bool tty = S_ISCHR(st.st_mode) && ::isatty(fd) == 1;
  if (!S_ISFIFO(st.st_mode) && !tty) {
    return -1;
  }
  char path[40];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  if (tty) {
    char target[64];
    ssize_t n = ::readlink(path, target, sizeof target - 1);
    if (n <= 0) {
      return -1;
    }
    target[n] = '\0';
    if (std::strstr(target, "ptmx") != nullptr) {
      return -1;  // a pty master: opening it again makes another pty
    }
  }
  // Opened non-blocking, so that a FIFO end without a peer fails (ENXIO) instead of
  // waiting; then given the mode wanted.
  int priv = ::open(path, (flags & (O_ACCMODE | O_APPEND)) | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (priv < 0) {
    return -1;
  }
  if (!nonblock && ::fcntl(priv, F_SETFL, (flags & O_APPEND)) < 0) {
    ::close(priv);
    return -1;
  }
  return priv;
}

/// Gives a descriptor that can make a read or write wait for another party (a pipe, FIFO,
/// terminal or socket) the blocking mode the backend wants, as tcp does for sockets: epoll
/// waits for readiness and then calls read or write, which must not block the loop;
/// io_uring arms its own poll for a blocking descriptor, while for a non-blocking one some
/// kernels hand EAGAIN back instead (6.18 polls either way on pipes, ptys and sockets).
/// O_NONBLOCK belongs to the open file description, which other descriptors and processes
/// may share (a shell's terminal is stdin, stdout and stderr at once): so a pipe, FIFO or
/// terminal is first moved onto a private description of its own, opened anew through
/// /proc/self/fd under the same descriptor number, and only that one changes. A socket,
/// a pty master, or any of them without /proc, has its shared flag changed (docs/aio.md).
/// Regular files, block devices and directories are left alone: O_NONBLOCK does not change
/// how their reads wait, and the user's flags stay as opened.
void set_mode(detail::io_backend& b, int fd) noexcept {
  struct stat st{};
  if (::fstat(fd, &st) != 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ||
      S_ISDIR(st.st_mode)) {
    return;
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) {
    return;  // the first op reports what is wrong with the descriptor
  }
  bool nonblock = b.wants_nonblocking();
  int want = nonblock ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want == flags) {
    return;
  }
  if (int priv = reopen_private(fd, st, flags, nonblock); priv >= 0) {
    // dup3 closes the description `fd` named: a loop that registered it must hear of it
    // as of a close. No loop of the caller's is assumed (`b` may be another thread's).
    detail::before_close(nullptr, "file", fd);
    int fd_flags = ::fcntl(fd, F_GETFD);
    int moved = ::dup3(priv, fd, fd_flags >= 0 && (fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0);
    ::close(priv);
    if (moved == fd) {
      return;
    }
  }
  ::fcntl(fd, F_SETFL, want);
}

}  // namespace

result<file> file::open(executor* ex, const std::filesystem::path& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) {
    return std::error_code(errno, std::system_category());
  }
  return file(ex, fd);
}

file::file(executor* ex, int fd) noexcept : descriptor(ex, fd) {
  if (fd >= 0) {
    set_mode(detail::resolve(ex, "file").get_loop().impl(), fd);
  }
}

result<std::size_t> file::read(std::span<std::byte> buf) {
  return detail::stream_read<file_stream>(ex_, "file::read", fd_, buf, {});
}
result<std::size_t> file::read(std::span<std::byte> buf, milliseconds timeout) {
  return detail::stream_read<file_stream>(ex_, "file::read", fd_, buf, timeout);
}
result<std::size_t> file::pread(std::span<std::byte> buf, std::uint64_t offset) {
  return detail::stream_read<file_stream>(ex_, "file::pread", fd_, buf, {}, offset);
}
result<std::size_t> file::pread(std::span<std::byte> buf, std::uint64_t offset,
                                milliseconds timeout) {
  return detail::stream_read<file_stream>(ex_, "file::pread", fd_, buf, timeout, offset);
}
result<std::size_t> file::write(std::span<const std::byte> buf) {
  return detail::stream_write<file_stream>(ex_, "file::write", fd_, buf, {});
}
result<std::size_t> file::write(std::span<const std::byte> buf, milliseconds timeout) {
  return detail::stream_write<file_stream>(ex_, "file::write", fd_, buf, timeout);
}
result<std::size_t> file::pwrite(std::span<const std::byte> buf, std::uint64_t offset) {
  return detail::stream_write<file_stream>(ex_, "file::pwrite", fd_, buf, {}, offset);
}
result<std::size_t> file::pwrite(std::span<const std::byte> buf, std::uint64_t offset,
                                 milliseconds timeout) {
  return detail::stream_write<file_stream>(ex_, "file::pwrite", fd_, buf, timeout, offset);
}
result<void> file::write_all(std::span<const std::byte> buf) {
  return detail::stream_write_all<file_stream>(ex_, "file::write_all", fd_, buf, {});
}
result<void> file::write_all(std::span<const std::byte> buf, milliseconds timeout) {
  return detail::stream_write_all<file_stream>(ex_, "file::write_all", fd_, buf, timeout);
}

}  // namespace xcoro::aio
