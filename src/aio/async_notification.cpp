// Cross-thread notifications: an eventfd. notify() is a write(2) from any thread; wait()
// is an 8-byte read op in the loop, so notifications sent meanwhile coalesce.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "aio/backend.hpp"

namespace xcoro::aio {
namespace {

result<void> wait_for(executor* ex, int fd, const milliseconds* timeout) {
  std::uint64_t count = 0;
  result<std::size_t> r = detail::run_op(ex, "async_notification::wait", detail::op_kind::read, fd,
                                         detail::io_deadline::of(timeout), [&](detail::io_op& op) {
                                           op.buf = &count;
                                           op.len = sizeof count;
                                         });
  if (!r) {
    return r.error();
  }
  return {};
}

}  // namespace

result<async_notification> async_notification::create(executor* ex) {
  detail::io_backend& b = detail::resolve(ex, "async_notification::create").get_loop().impl();
  int fd = ::eventfd(0, EFD_CLOEXEC | (b.wants_nonblocking() ? EFD_NONBLOCK : 0));
  if (fd < 0) {
    return std::error_code(errno, std::system_category());
  }
  return async_notification(ex, fd);
}

result<void> async_notification::wait() {
  return wait_for(ex_, fd_, nullptr);
}

result<void> async_notification::wait(milliseconds timeout) {
  return wait_for(ex_, fd_, &timeout);
}

result<void> async_notification::notify() {
  std::uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(fd_, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return std::error_code(errno, std::system_category());
  }
  return {};
}

}  // namespace xcoro::aio
