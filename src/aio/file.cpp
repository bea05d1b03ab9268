// Files: open is a plain system call; reads and writes are io_ops (io_uring read/write;
// on epoll, readiness for what can be polled and the thread pool for the rest).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "aio/backend.hpp"

namespace xcoro::aio {
namespace {

/// Gives a descriptor that can make a read or write wait for another party (a pipe, FIFO,
/// terminal or socket) the blocking mode the backend wants, as tcp does for sockets: epoll
/// waits for readiness and then calls read or write, which must not block the loop;
/// io_uring arms its own poll for a blocking descriptor, while for a non-blocking one some
/// kernels hand EAGAIN back instead (6.18 polls either way on pipes, ptys and sockets).
/// O_NONBLOCK belongs to the open file description, so every descriptor and process sharing
/// it sees the change (docs/aio.md). Regular files, block devices and directories are left
/// alone: O_NONBLOCK does not change how their reads wait, and the user's flags stay as
/// opened.
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
  int want = b.wants_nonblocking() ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags) {
    ::fcntl(fd, F_SETFL, want);
  }
}

result<std::size_t> file_op(executor* ex, const char* call, detail::op_kind kind, int fd,
                            void* buf, std::size_t len, std::uint64_t offset,
                            const milliseconds* timeout) {
  executor& e = detail::resolve(ex, call);
  detail::io_op op(e.get_loop().impl(), kind, fd);
  op.buf = buf;
  op.len = len;
  op.offset = offset;
  op.file = true;  // the backend decides: epoll polls what it can, pools the rest
  if (timeout != nullptr) {
    op.deadline_ns = detail::now_ns() + std::chrono::nanoseconds(*timeout).count();
  }
  return detail::to_size(op, detail::execute(e, op));
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
  return file_op(ex_, "file::read", detail::op_kind::read, fd_, buf.data(), buf.size(),
                 detail::current_offset, nullptr);
}
result<std::size_t> file::read(std::span<std::byte> buf, milliseconds timeout) {
  return file_op(ex_, "file::read", detail::op_kind::read, fd_, buf.data(), buf.size(),
                 detail::current_offset, &timeout);
}
result<std::size_t> file::pread(std::span<std::byte> buf, std::uint64_t offset) {
  return file_op(ex_, "file::pread", detail::op_kind::read, fd_, buf.data(), buf.size(),
                 offset, nullptr);
}
result<std::size_t> file::pread(std::span<std::byte> buf, std::uint64_t offset,
                                milliseconds timeout) {
  return file_op(ex_, "file::pread", detail::op_kind::read, fd_, buf.data(), buf.size(),
                 offset, &timeout);
}
result<std::size_t> file::write(std::span<const std::byte> buf) {
  return file_op(ex_, "file::write", detail::op_kind::write, fd_,
                 const_cast<std::byte*>(buf.data()), buf.size(), detail::current_offset,
                 nullptr);
}
result<std::size_t> file::write(std::span<const std::byte> buf, milliseconds timeout) {
  return file_op(ex_, "file::write", detail::op_kind::write, fd_,
                 const_cast<std::byte*>(buf.data()), buf.size(), detail::current_offset,
                 &timeout);
}
result<std::size_t> file::pwrite(std::span<const std::byte> buf, std::uint64_t offset) {
  return file_op(ex_, "file::pwrite", detail::op_kind::write, fd_,
                 const_cast<std::byte*>(buf.data()), buf.size(), offset, nullptr);
}
result<std::size_t> file::pwrite(std::span<const std::byte> buf, std::uint64_t offset,
                                 milliseconds timeout) {
  return file_op(ex_, "file::pwrite", detail::op_kind::write, fd_,
                 const_cast<std::byte*>(buf.data()), buf.size(), offset, &timeout);
}

}  // namespace xcoro::aio
