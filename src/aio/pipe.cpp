// Pipes: aio::pipe, the two pipe ends (aio::file underneath, with errc::eof at the end of
// the stream), read_all, SIGPIPE, and run_capture over process::spawn.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <functional>

#include "aio/backend.hpp"
#include "aio/child.hpp"
#include "aio/stream.hpp"
#include "xcoro/scope.hpp"

namespace xcoro::aio {
namespace detail {
namespace {
std::atomic<bool> sigpipe_changed{false};
}  // namespace

void ignore_sigpipe() noexcept {
  // Once: a program that later sets its own action keeps it.
  static const bool done = [] {
    struct sigaction old{};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && (old.sa_flags & SA_SIGINFO) == 0 &&
        old.sa_handler == SIG_DFL) {
      struct sigaction ign{};
      ign.sa_handler = SIG_IGN;
      ::sigemptyset(&ign.sa_mask);
      if (::sigaction(SIGPIPE, &ign, nullptr) == 0) {
        sigpipe_changed.store(true, std::memory_order_relaxed);
      }
    }
    return true;
  }();
  (void)done;
}

bool sigpipe_ignored_by_xcoro() noexcept {
  return sigpipe_changed.load(std::memory_order_relaxed);
}
}  // namespace detail

namespace {

using detail::pipe_stream;

/// read_all with one deadline: the string grows in steps of at most 64 KiB, each read
/// straight into its tail (no buffer of its own), never to more than max + 1 bytes.
result<std::string> read_all_until(pipe_reader& r, std::size_t max, detail::io_deadline deadline) {
  std::string s;
  for (;;) {
    std::size_t old = s.size();
    std::size_t chunk = std::min<std::size_t>(64 * 1024, max + 1 - old);
    s.resize(old + chunk);
    milliseconds left{0};
    const milliseconds* t = deadline.remaining(left);
    std::span<std::byte> into(reinterpret_cast<std::byte*>(s.data()) + old, chunk);
    result<std::size_t> n = t != nullptr ? r.read(into, *t) : r.read(into);
    if (!n) {
      s.resize(old);
      if (n.error() == errc::eof) {
        return s;
      }
      return n.error();
    }
    s.resize(old + *n);
    if (s.size() > max) {
      return std::make_error_code(std::errc::file_too_large);
    }
  }
}

}  // namespace

result<pipe_pair> pipe(executor* ex) {
  detail::ignore_sigpipe();
  executor& e = detail::resolve(ex, "aio::pipe");
  int fds[2];
  // Both ends are ours: made in the backend's mode at once, so that file's set_mode has
  // nothing to change (and no private open file description to make).
  int flags = O_CLOEXEC | (e.get_loop().impl().wants_nonblocking() ? O_NONBLOCK : 0);
  if (::pipe2(fds, flags) < 0) {
    return std::error_code(errno, std::system_category());
  }
  return pipe_pair{pipe_reader(ex, fds[0]), pipe_writer(ex, fds[1])};
}

result<std::size_t> pipe_reader::read(std::span<std::byte> buf) {
  return detail::stream_read<pipe_stream>(f_.bound_executor(), "pipe_reader::read",
                                          f_.native_handle(), buf, {});
}
result<std::size_t> pipe_reader::read(std::span<std::byte> buf, milliseconds timeout) {
  return detail::stream_read<pipe_stream>(f_.bound_executor(), "pipe_reader::read",
                                          f_.native_handle(), buf, timeout);
}

result<std::size_t> pipe_writer::write(std::span<const std::byte> buf) {
  return detail::stream_write<pipe_stream>(f_.bound_executor(), "pipe_writer::write",
                                           f_.native_handle(), buf, {});
}
result<std::size_t> pipe_writer::write(std::span<const std::byte> buf, milliseconds timeout) {
  return detail::stream_write<pipe_stream>(f_.bound_executor(), "pipe_writer::write",
                                           f_.native_handle(), buf, timeout);
}
result<void> pipe_writer::write_all(std::span<const std::byte> buf) {
  return detail::stream_write_all<pipe_stream>(f_.bound_executor(), "pipe_writer::write_all",
                                               f_.native_handle(), buf, {});
}
result<void> pipe_writer::write_all(std::span<const std::byte> buf, milliseconds timeout) {
  return detail::stream_write_all<pipe_stream>(f_.bound_executor(), "pipe_writer::write_all",
                                               f_.native_handle(), buf, timeout);
}

result<std::string> read_all(pipe_reader& r, std::size_t max) {
  return read_all_until(r, max, detail::io_deadline::none());
}
result<std::string> read_all(pipe_reader& r, std::size_t max, milliseconds timeout) {
  return read_all_until(r, max, detail::io_deadline::after(timeout));
}

namespace {

/// run_capture in a coroutine: stdout and stderr are read by a coroutine each, so that a
/// child filling one pipe cannot stall while we wait on the other. The first reader to
/// fail kills the child and cancels the other reader: a grandchild that holds a pipe open
/// cannot keep the call waiting until its deadline.
result<captured> capture(executor* ex, std::vector<std::string>& argv, detail::io_deadline deadline,
                         std::size_t max) {
  process_options o;
  o.argv = std::move(argv);
  o.in = stdio::null();
  o.out = stdio::pipe();
  o.err = stdio::pipe();
  result<process> p = process::spawn(ex, std::move(o));
  if (!p) {
    return p.error();
  }
  // Atomic: inside a runtime a reader may be stolen by another worker while this
  // coroutine still fills in the other's frame.
  std::atomic<xcoro::frame> readers[2] = {nullptr, nullptr};
  auto read_one = [&p, &readers, deadline, max](pipe_reader& from, int self) {
    result<std::string> r = read_all_until(from, max, deadline);
    if (!r) {
      (void)p->kill(SIGKILL);
      // False if it is done, or not made yet (it then sees the child's pipe close).
      (void)xcoro::cancel(readers[1 - self].load(std::memory_order_acquire));
    }
    return r;
  };
  auto out_reader = xasync(read_one, std::ref(p->stdout_pipe()), 0);
  if (!out_reader) {
    (void)p->kill(SIGKILL);  // ~process hands the killed child to the reaper
    return out_reader.error();
  }
  readers[0].store(out_reader->frame(), std::memory_order_release);
  auto err_reader = xasync(read_one, std::ref(p->stderr_pipe()), 1);
  if (!err_reader) {
    (void)p->kill(SIGKILL);
    xcoro::cancel(out_reader->frame());
    (void)xawait(std::move(*out_reader));
    return err_reader.error();
  }
  readers[1].store(err_reader->frame(), std::memory_order_release);
  result<std::string> out = xawait(std::move(*out_reader));
  result<std::string> err = xawait(std::move(*err_reader));
  // The first error is the one to report: a reader cancelled by the other says canceled.
  std::error_code failed;
  if (!out && out.error() != errc::canceled) {
    failed = out.error();
  } else if (!err && err.error() != errc::canceled) {
    failed = err.error();
  } else if (!out || !err) {
    failed = make_error_code(errc::canceled);
  }
  if (!failed) {
    milliseconds left{0};
    const milliseconds* t = deadline.remaining(left);
    result<std::uint32_t> status = t != nullptr ? p->wait(*t) : p->wait();
    if (status) {
      return captured{*status, std::move(*out), std::move(*err)};
    }
    failed = status.error();
  }
  (void)p->kill(SIGKILL);
  return failed;
}

}  // namespace

result<captured> run_capture(executor* ex, std::vector<std::string> argv, milliseconds timeout,
                             std::size_t max_output) {
  detail::io_deadline deadline = detail::io_deadline::after(timeout);
  if (!in_coro()) {
    // From root: the two readers need coroutines; run() makes the first and pumps the loop.
    return aio::run(ex, [&] { return capture(ex, argv, deadline, max_output); });
  }
  return capture(ex, argv, deadline, max_output);
}

}  // namespace xcoro::aio
