// Child processes: posix_spawn, a pidfd from pidfd_open, and waitid(P_PIDFD) once the
// pidfd is readable, which reaps the child.
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "aio/backend.hpp"

extern char** environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace xcoro::aio {
namespace {

int open_pidfd(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

result<std::uint32_t> wait_child(executor* ex, int pidfd, int open_error,
                                 const milliseconds* timeout) {
  if (pidfd < 0) {
    return std::error_code(open_error != 0 ? open_error : ECHILD, std::system_category());
  }
  executor& e = detail::resolve_op(ex, "process::wait");
  detail::io_op op(e.get_loop().impl(), detail::op_kind::poll_in, pidfd);
  if (timeout != nullptr) {
    op.deadline_ns = detail::now_ns() + std::chrono::nanoseconds(*timeout).count();
  }
  result<std::size_t> ready = detail::to_size(op, detail::execute(e, op));
  if (!ready) {
    return ready.error();
  }
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    return std::error_code(errno, std::system_category());
  }
  if (info.si_code == CLD_EXITED) {
    return static_cast<std::uint32_t>(info.si_status);
  }
  return static_cast<std::uint32_t>(128 + info.si_status);
}

}  // namespace

result<process> process::spawn(executor* ex, std::vector<std::string> argv) {
  if (argv.empty()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (std::string& a : argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) {
    return std::error_code(rc, std::system_category());
  }
  return process(ex, pid);
}

process::process(executor* ex, pid_t pid) : ex_(ex), pid_(pid), pidfd_(open_pidfd(pid)) {
  if (pidfd_ < 0) {
    open_error_ = errno;
  }
}

process::process(process&& o) noexcept
    : ex_(o.ex_),
      pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::exchange(o.pidfd_, -1)),
      open_error_(o.open_error_) {}

process& process::operator=(process&& o) noexcept {
  if (this != &o) {
    if (pidfd_ >= 0) {
      detail::before_close(&detail::resolve(ex_, "process").get_loop().impl(), "process",
                           pidfd_);
      ::close(pidfd_);
    }
    ex_ = o.ex_;
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::exchange(o.pidfd_, -1);
    open_error_ = o.open_error_;
  }
  return *this;
}

process::~process() {
  if (pidfd_ >= 0) {
    detail::before_close(&detail::resolve(ex_, "process").get_loop().impl(), "process",
                         pidfd_);
    ::close(pidfd_);
  }
}

result<std::uint32_t> process::wait() {
  return wait_child(ex_, pidfd_, open_error_, nullptr);
}

result<std::uint32_t> process::wait(milliseconds timeout) {
  return wait_child(ex_, pidfd_, open_error_, &timeout);
}

}  // namespace xcoro::aio
