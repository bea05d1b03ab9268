// Files: open is a plain system call; reads and writes are io_ops (io_uring read/write,
// or the epoll backend's thread pool).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "aio/backend.hpp"

namespace xcoro::aio {
namespace {

result<std::size_t> file_op(executor* ex, const char* call, detail::op_kind kind, int fd,
                            void* buf, std::size_t len, std::uint64_t offset,
                            const milliseconds* timeout) {
  executor& e = detail::resolve(ex, call);
  detail::io_op op(e.get_loop().impl(), kind, fd);
  op.buf = buf;
  op.len = len;
  op.offset = offset;
  op.regular_file = true;
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

file::file(executor* ex, int fd) noexcept : descriptor(ex, fd) {}

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
