// Child processes: posix_spawn with file actions for stdio, the working directory and the
// environment; a pidfd from pidfd_open for waits (waitid(P_PIDFD) once it is readable,
// which reaps the child) and for kill (pidfd_send_signal); the reaper for children whose
// process object is dropped first.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "aio/backend.hpp"
#include "aio/child.hpp"

extern char** environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace xcoro::aio {
namespace {

int open_pidfd(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

std::error_code last_error() {
  return std::error_code(errno, std::system_category());
}

result<std::uint32_t> wait_child(executor* ex, int pidfd, int open_error,
                                 const milliseconds* timeout) {
  if (pidfd < 0) {
    return std::error_code(open_error != 0 ? open_error : ECHILD, std::system_category());
  }
  result<std::size_t> ready =
      detail::run_op(ex, "process::wait", detail::op_kind::poll_in, pidfd,
                     detail::io_deadline::of(timeout), [](detail::io_op&) {});
  if (!ready) {
    return ready.error();
  }
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    return last_error();
  }
  if (info.si_code == CLD_EXITED) {
    return static_cast<std::uint32_t>(info.si_status);
  }
  return static_cast<std::uint32_t>(128 + info.si_status);
}

/// The posix_spawn file actions and attributes of one spawn, released on every path.
struct spawn_setup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  spawn_setup() noexcept {
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attr);
  }
  ~spawn_setup() {
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
  }
  spawn_setup(const spawn_setup&) = delete;
  spawn_setup& operator=(const spawn_setup&) = delete;
};

/// The pipes made for a spawn: the child's ends are closed once the child has them (they
/// are O_CLOEXEC, so only the dup2 onto 0, 1 or 2 reaches the child), the parent's ends
/// closed unless handed to the process object.
struct pipe_ends {
  int child = -1;
  int parent = -1;
  ~pipe_ends() {
    if (child >= 0) {
      ::close(child);
    }
    if (parent >= 0) {
      ::close(parent);
    }
  }
};

/// A descriptor of at least 3, so that no dup2 onto 0, 1 or 2 overwrites one that a later
/// action still reads (a parent started with stdin closed gets pipes at 0).
int above_stdio(int fd) noexcept {
  if (fd < 0 || fd > 2) {
    return fd;
  }
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

/// Adds the actions that give the child `s` as descriptor `target` (0, 1 or 2), making
/// the pipe into `p` for stdio::pipe().
int add_stdio(spawn_setup& su, const stdio& s, int target, pipe_ends& p, bool nonblocking) {
  switch (s.type()) {
    case stdio::kind::inherit:
      return 0;
    case stdio::kind::null:
      return ::posix_spawn_file_actions_addopen(&su.actions, target, "/dev/null",
                                                target == 0 ? O_RDONLY : O_WRONLY, 0);
    case stdio::kind::file:
      return ::posix_spawn_file_actions_addopen(&su.actions, target, s.path().c_str(),
                                                s.flags(), static_cast<mode_t>(s.mode()));
    case stdio::kind::fd:
      return ::posix_spawn_file_actions_adddup2(&su.actions, s.descriptor(), target);
    case stdio::kind::to_stdout:
      return ::posix_spawn_file_actions_adddup2(&su.actions, 1, target);
    case stdio::kind::pipe: {
      int fds[2];
      // Blocking for the child: each end is its own open file description, so only the
      // parent's end is made non-blocking, and the child's stays as programs expect.
      if (::pipe2(fds, O_CLOEXEC) < 0) {
        return errno;
      }
      int child_end = target == 0 ? fds[0] : fds[1];
      int parent_end = target == 0 ? fds[1] : fds[0];
      p.child = above_stdio(child_end);
      p.parent = above_stdio(parent_end);
      if (p.child < 0 || p.parent < 0) {
        return EMFILE;
      }
      if (nonblocking) {
        ::fcntl(p.parent, F_SETFL, ::fcntl(p.parent, F_GETFL) | O_NONBLOCK);
      }
      return ::posix_spawn_file_actions_adddup2(&su.actions, p.child, target);
    }
  }
  return EINVAL;
}

/// The child's environment: the parent's with `o.env` added (a name given replaces the
/// parent's), or `o.env` alone.
std::vector<std::string> make_env(const process_options& o) {
  std::vector<std::string> out;
  if (!o.clear_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry(*e);
      std::string_view name = entry.substr(0, entry.find('='));
      bool replaced = false;
      for (const auto& [k, v] : o.env) {
        if (k == name) {
          replaced = true;
          break;
        }
      }
      if (!replaced) {
        out.emplace_back(entry);
      }
    }
  }
  for (const auto& [k, v] : o.env) {
    out.push_back(k + "=" + v);
  }
  return out;
}

[[noreturn]] void no_pipe(const char* call) noexcept {
  std::fprintf(stderr, "xcoro: %s: the stream was not spawned as stdio::pipe(), or is closed\n",
               call);
  std::abort();
}

}  // namespace

result<process> process::spawn(executor* ex, process_options o) {
  if (o.argv.empty() || o.in.type() == stdio::kind::to_stdout ||
      o.out.type() == stdio::kind::to_stdout) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  bool any_pipe = o.in.type() == stdio::kind::pipe || o.out.type() == stdio::kind::pipe ||
                  o.err.type() == stdio::kind::pipe;
  if (any_pipe) {
    detail::ignore_sigpipe();
  }
  // Only pipes need the executor now (for the backend's mode): a spawn without them works
  // where no env executor is set, as it always has.
  bool nonblocking =
      any_pipe &&
      detail::resolve(ex, "process::spawn").get_loop().impl().wants_nonblocking();
  spawn_setup su;
  pipe_ends pin;
  pipe_ends pout;
  pipe_ends perr;
  // In order: stdin, stdout, then stderr (to_stdout duplicates the stdout just set up);
  // the working directory last, so that a relative stdio::file path is the parent's.
  if (int rc = add_stdio(su, o.in, 0, pin, nonblocking); rc != 0) {
    return std::error_code(rc, std::system_category());
  }
  if (int rc = add_stdio(su, o.out, 1, pout, nonblocking); rc != 0) {
    return std::error_code(rc, std::system_category());
  }
  if (int rc = add_stdio(su, o.err, 2, perr, nonblocking); rc != 0) {
    return std::error_code(rc, std::system_category());
  }
  if (!o.cwd.empty()) {
    if (int rc = ::posix_spawn_file_actions_addchdir_np(&su.actions, o.cwd.c_str()); rc != 0) {
      return std::error_code(rc, std::system_category());
    }
  }
  if (detail::sigpipe_ignored_by_xcoro()) {
    // xcoro set SIGPIPE to ignored for its own pipe writes; a child gets the default back,
    // so that `producer | head` ends the producer as in a shell.
    sigset_t def;
    ::sigemptyset(&def);
    ::sigaddset(&def, SIGPIPE);
    ::posix_spawnattr_setsigdefault(&su.attr, &def);
    ::posix_spawnattr_setflags(&su.attr, POSIX_SPAWN_SETSIGDEF);
  }

  std::vector<char*> args;
  args.reserve(o.argv.size() + 1);
  for (std::string& a : o.argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  char** env = environ;
  if (o.clear_env || !o.env.empty()) {
    env_strings = make_env(o);
    envp.reserve(env_strings.size() + 1);
    for (std::string& s : env_strings) {
      envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    env = envp.data();
  }

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &su.actions, &su.attr, args.data(), env);
  if (rc != 0) {
    return std::error_code(rc, std::system_category());
  }
  process p(ex, pid);
  p.kill_on_drop_ = o.kill_on_drop;
  if (pin.parent >= 0) {
    p.in_.emplace(ex, std::exchange(pin.parent, -1));
  }
  if (pout.parent >= 0) {
    p.out_.emplace(ex, std::exchange(pout.parent, -1));
  }
  if (perr.parent >= 0) {
    p.err_.emplace(ex, std::exchange(perr.parent, -1));
  }
  return p;
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
      open_error_(o.open_error_),
      reaped_(o.reaped_),
      kill_on_drop_(o.kill_on_drop_),
      in_(std::move(o.in_)),
      out_(std::move(o.out_)),
      err_(std::move(o.err_)) {
  o.in_.reset();
  o.out_.reset();
  o.err_.reset();
}

process& process::operator=(process&& o) noexcept {
  if (this != &o) {
    drop();
    ex_ = o.ex_;
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::exchange(o.pidfd_, -1);
    open_error_ = o.open_error_;
    reaped_ = o.reaped_;
    kill_on_drop_ = o.kill_on_drop_;
    in_ = std::move(o.in_);
    out_ = std::move(o.out_);
    err_ = std::move(o.err_);
    o.in_.reset();
    o.out_.reset();
    o.err_.reset();
  }
  return *this;
}

void process::drop() noexcept {
  in_.reset();
  out_.reset();
  err_.reset();
  if (pidfd_ < 0) {
    return;
  }
  detail::before_close(&detail::resolve(ex_, "process").get_loop().impl(), "process", pidfd_);
  if (reaped_) {
    ::close(pidfd_);
  } else {
    if (kill_on_drop_) {
      (void)::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    }
    detail::reap_later(pidfd_);  // the reaper owns the pidfd from here
  }
  pidfd_ = -1;
}

process::~process() {
  drop();
}

result<std::uint32_t> process::wait() {
  result<std::uint32_t> r = wait_child(ex_, pidfd_, open_error_, nullptr);
  reaped_ = reaped_ || r.has_value();
  return r;
}

result<std::uint32_t> process::wait(milliseconds timeout) {
  result<std::uint32_t> r = wait_child(ex_, pidfd_, open_error_, &timeout);
  reaped_ = reaped_ || r.has_value();
  return r;
}

result<void> process::kill(int sig) {
  if (pidfd_ < 0) {
    return std::error_code(open_error_ != 0 ? open_error_ : ESRCH, std::system_category());
  }
  if (reaped_) {
    return std::make_error_code(std::errc::no_such_process);
  }
  if (::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) < 0) {
    return last_error();
  }
  return {};
}

pipe_writer& process::stdin_pipe() noexcept {
  if (!in_) {
    no_pipe("process::stdin_pipe");
  }
  return *in_;
}

pipe_reader& process::stdout_pipe() noexcept {
  if (!out_) {
    no_pipe("process::stdout_pipe");
  }
  return *out_;
}

pipe_reader& process::stderr_pipe() noexcept {
  if (!err_) {
    no_pipe("process::stderr_pipe");
  }
  return *err_;
}

result<void> process::close_stdin() {
  if (!in_) {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  result<void> r = in_->close();
  in_.reset();
  return r;
}

}  // namespace xcoro::aio
