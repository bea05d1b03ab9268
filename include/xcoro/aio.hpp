// Async IO for coroutines (zigcoro asyncio): an event loop on io_uring or epoll, sleep,
// TCP, UDP, files, child processes and cross-thread notifications, all with timeouts.
// See docs/aio.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"

namespace xcoro::aio {

/// Which kernel interface a loop uses.
enum class backend {
  automatic,  ///< io_uring, or epoll when io_uring is refused (ENOSYS, EPERM, seccomp)
  io_uring,
  epoll,
};

/// How a loop is built.
struct loop_options {
  aio::backend backend = backend::automatic;
  /// io_uring submission queue entries.
  unsigned entries = 256;
  /// The longest a blocking poll keeps asking the kernel for completions before it
  /// sleeps (none when a timer is due sooner): it trades the loop thread's idle time for the
  /// wake-up latency of every sleep. 0 never spins. See busy_poll_adaptive.
  std::chrono::nanoseconds busy_poll = std::chrono::microseconds(50);
  /// true (the default): spin only while it pays, for a window that opens (5 us, doubling
  /// up to busy_poll) while the loop's sleeps keep ending within 2 * busy_poll, and closes
  /// after a longer sleep. A one-connection echo server answers about 3.4 times as many
  /// messages on the 2-vCPU test VM, and uses less CPU per message; an idle loop does not
  /// spin, and one serving a slow trickle of requests spins at most 5 us per request.
  /// false: spin for busy_poll before every sleep. The environment variable
  /// XCORO_BUSY_POLL_US=N sets a fixed spin of N microseconds (0: none).
  bool busy_poll_adaptive = true;
  /// Opt-in stall report: when a coroutine on the loop's thread (or root code between
  /// ticks) runs for longer than this without the loop getting control back, the loop
  /// prints one line on stderr, "xcoro: coroutine 'name' (id N) ran M ms without
  /// suspending", and when the loop gets control back another, "... gave the loop back
  /// after at least T ms"; the coroutine runs on. 0 (the default) is off and costs a
  /// predicted branch each time the loop is about to wait in the kernel. When on, the loop starts a watchdog thread, and installs a
  /// SIGURG handler (once per process; a SIGURG that is not its probe goes to the previous
  /// handler). The environment variable XCORO_STALL_REPORT_MS=N overrides it (0: off).
  /// See docs/aio.md.
  std::chrono::milliseconds stall_report{0};
};

namespace detail {
class io_backend;
struct io_op;
class stall_watch;
/// Deletes a stall_watch (defined in the library, so loop needs no complete type).
struct stall_watch_delete {
  void operator()(stall_watch* w) const noexcept;
};
}  // namespace detail

/// An event loop: one io_uring ring or one epoll instance, and its timers. Single-threaded:
/// use it from the thread that created it (async_notification::notify excepted).
class XCORO_EXPORT loop {
 public:
  /// Creates a loop. The environment variables XCORO_BACKEND=io_uring|epoll,
  /// XCORO_BUSY_POLL_US=N and XCORO_STALL_REPORT_MS=N override `o.backend`, `o.busy_poll`
  /// with a fixed spin (not adaptive) of N microseconds, and `o.stall_report`. Errors: the
  /// errno of the failed setup call (the stall report's thread included); invalid_argument
  /// for a negative `o.busy_poll` or `o.stall_report`, or a value of those variables it
  /// cannot read.
  static result<loop> create(loop_options o = {});
  loop(loop&&) noexcept;
  loop& operator=(loop&&) noexcept;
  ~loop();
  /// The backend actually in use.
  aio::backend backend() const noexcept;

  /// Internal.
  detail::io_backend& impl() noexcept { return *impl_; }
  /// Internal: the stall report's watch, or nullptr when it is off.
  detail::stall_watch* stall() noexcept { return stall_.get(); }

 private:
  explicit loop(std::unique_ptr<detail::io_backend> impl) noexcept;
  std::unique_ptr<detail::io_backend> impl_;
  std::unique_ptr<detail::stall_watch, detail::stall_watch_delete> stall_;
};

/// A loop plus the executor that channels and other coroutines are woken through (zigcoro
/// asyncio.Executor).
class XCORO_EXPORT executor {
 public:
  /// Deadline waits on exec() (channel and select deadlines) run on `l`'s timers.
  explicit executor(loop& l) noexcept;
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;

  /// The plain executor inside.
  xcoro::executor& exec() noexcept { return exec_; }
  /// The loop.
  aio::loop& get_loop() noexcept { return *loop_; }

  /// One step of the event loop: runs ready executor work without blocking in the kernel
  /// while there is any; otherwise waits for IO or a timer. Returns false when nothing can
  /// make progress (nothing ready, no IO or timer in flight).
  bool tick();

 private:
  loop* loop_;
  xcoro::executor exec_;
};

/// The thread-local aio environment (zigcoro asyncio.Env).
struct env {
  aio::executor* executor = nullptr;
  xcoro::stack_allocator* stack_allocator = nullptr;
  std::size_t default_stack_size = 0;
};

/// Sets this thread's aio env, and xcoro's env with executor = &e.executor->exec().
XCORO_EXPORT void init_env(const env& e) noexcept;
/// This thread's aio env.
XCORO_EXPORT env& get_env() noexcept;

namespace detail {
/// The env executor; aborts with a message naming `call` if it is null.
XCORO_EXPORT aio::executor& resolve_env(const char* call) noexcept;
/// `ex`, or the env executor; aborts with a message naming `call` if both are null. Inline:
/// every IO call resolves its executor, and almost always has one.
inline aio::executor& resolve(aio::executor* ex, const char* call) noexcept {
  return ex != nullptr ? *ex : resolve_env(call);
}
/// Pumps `ex` until `c` is done. False if nothing could make progress first.
XCORO_EXPORT bool pump_until_done(aio::executor& ex, coro* c);

}  // namespace detail

/// Runs `f(args...)` in a new coroutine to completion, pumping IO and the ready queue, and
/// returns its result (a result<T> returned by f is passed through, not nested). Call it
/// from root. errc::deadlock if nothing can make progress while f is unfinished (zigcoro
/// spins forever); stack errors as xasync. `ex` nullptr: the env executor.
template <class F, class... Args>
  requires xcoro::detail::async_callable<F, Args...>
auto run(aio::executor* ex, stack_arg stack, F&& f, Args&&... args)
    -> typename xcoro::detail::flat_result<xcoro::detail::async_result_t<F, Args...>>::type {
  using R = xcoro::detail::async_result_t<F, Args...>;
  aio::executor& e = detail::resolve(ex, "aio::run");
  auto fr = xasync(stack, std::forward<F>(f), std::forward<Args>(args)...);
  if (!fr) {
    return fr.error();
  }
  if (!detail::pump_until_done(e, fr->frame())) {
    return errc::deadlock;
  }
  if constexpr (std::is_void_v<R>) {
    xawait(*fr);
    return {};
  } else {
    return xawait(std::move(*fr));
  }
}

/// run() on the env's default stack.
template <class F, class... Args>
  requires xcoro::detail::async_callable<F, Args...>
auto run(aio::executor* ex, F&& f, Args&&... args)
    -> typename xcoro::detail::flat_result<xcoro::detail::async_result_t<F, Args...>>::type {
  return run(ex, stack_arg(), std::forward<F>(f), std::forward<Args>(args)...);
}

using std::chrono::milliseconds;

/// An IPv4 or IPv6 socket address.
class XCORO_EXPORT endpoint {
 public:
  /// "127.0.0.1:8080", "[::1]:0". std::errc::invalid_argument if malformed.
  static result<endpoint> parse(std::string_view text);
  /// Internal: from a sockaddr of `len` bytes.
  static endpoint from_sockaddr(const void* sa, std::size_t len) noexcept;
  endpoint() noexcept;
  std::uint16_t port() const noexcept;
  /// "127.0.0.1:8080" or "[::1]:8080".
  std::string to_string() const;
  /// AF_INET or AF_INET6.
  int family() const noexcept;
  /// The sockaddr, for system calls.
  const void* data() const noexcept { return storage_; }
  std::size_t size() const noexcept { return len_; }

 private:
  alignas(8) unsigned char storage_[28];  // sockaddr_in6
  std::uint32_t len_ = 0;
};

/// Suspends the calling coroutine (or, from root, pumps the loop) for at least `ms`.
XCORO_EXPORT result<void> sleep(executor* ex, milliseconds ms);

/// Cancels the IO operation `f` is suspended in; it resumes with errc::canceled. Returns
/// false if `f` is not waiting for IO. For a coroutine running on another worker of a
/// runtime the request is posted there, and cancels the operation `f` waits in when it
/// arrives; the call then returns true (the request was sent). A coroutine of another
/// thread that is not a runtime's worker aborts with a message.
XCORO_EXPORT bool cancel(xcoro::frame f) noexcept;

namespace detail {
/// An owned file descriptor on an executor's loop: move-only, closed (and forgotten by
/// the loop) when destroyed or overwritten. The base of tcp, udp, file and
/// async_notification. Made with a nullptr executor, every operation (close included) uses
/// the calling thread's env executor: inside a runtime the object works from any worker,
/// one operation at a time, and close() ends operations waiting on it on any worker as it
/// does on one thread. Made with an explicit executor, it belongs to that executor's
/// thread: an operation from another thread aborts with a message naming the call.
class XCORO_EXPORT descriptor {
 public:
  descriptor(descriptor&& o) noexcept : ex_(o.ex_), fd_(std::exchange(o.fd_, -1)) {}
  descriptor& operator=(descriptor&& o) noexcept;
  ~descriptor();

  /// Closes the descriptor; std::errc::bad_file_descriptor if it is already closed.
  result<void> close();
  int native_handle() const noexcept { return fd_; }
  /// Internal: the executor it was made with (nullptr: the calling thread's env executor).
  executor* bound_executor() const noexcept { return ex_; }

 protected:
  descriptor(executor* ex, int fd) noexcept : ex_(ex), fd_(fd) {}
  executor* ex_;
  int fd_ = -1;
};
}  // namespace detail

/// A TCP socket. Move-only; closes its descriptor when destroyed.
class XCORO_EXPORT tcp : public detail::descriptor {
 public:
  /// A new socket of `family_of`'s address family.
  static result<tcp> open(executor* ex, const endpoint& family_of);
  /// Adopts a connected or listening socket (made non-blocking).
  tcp(executor* ex, int fd) noexcept;

  /// Binds with SO_REUSEADDR.
  result<void> bind(const endpoint& e);
  result<void> listen(int backlog);
  result<endpoint> local_endpoint() const;
  result<tcp> accept();
  result<tcp> accept(milliseconds timeout);
  result<void> connect(const endpoint& e);
  result<void> connect(const endpoint& e, milliseconds timeout);
  /// A new socket connected to `host`: aio::resolve(ex, host, port), then each address in
  /// the order it returns until one accepts. The timeout bounds the whole call, the lookup
  /// included: each attempt gets what is left of it. Errors: resolve's; when every address
  /// fails, the last attempt's error (std::errc::connection_refused, std::errc::timed_out).
  /// A cancellation point (errc::canceled ends it at once).
  static result<tcp> connect(executor* ex, std::string_view host, std::uint16_t port);
  static result<tcp> connect(executor* ex, std::string_view host, std::uint16_t port,
                             milliseconds timeout);
  /// A new socket connected to the first of `to`, in order, that accepts; the timeout bounds
  /// the whole call. Errors: std::errc::invalid_argument if `to` is empty; the last
  /// attempt's error when all fail; errc::canceled at once.
  static result<tcp> connect(executor* ex, std::span<const endpoint> to);
  static result<tcp> connect(executor* ex, std::span<const endpoint> to, milliseconds timeout);
  /// Reads what is available, at least one byte; errc::eof at end of stream.
  result<std::size_t> read(std::span<std::byte> buf);
  result<std::size_t> read(std::span<std::byte> buf, milliseconds timeout);
  /// One send; may write less than `buf`.
  result<std::size_t> write(std::span<const std::byte> buf);
  result<std::size_t> write(std::span<const std::byte> buf, milliseconds timeout);
  /// Writes all of `buf`, looping over partial writes.
  result<void> write_all(std::span<const std::byte> buf);
  result<void> write_all(std::span<const std::byte> buf, milliseconds timeout);
  /// Shuts down the send side, as zigcoro.
  result<void> shutdown();
};

/// A Unix domain stream socket (AF_UNIX, SOCK_STREAM), named by a filesystem path or, when
/// the path starts with '@', by an abstract name (Linux: the rest of the path, no file).
/// The stream calls are tcp's: the same errors (errc::eof at end of stream), timeouts,
/// cancellation points, both backends, and no heap allocation per read or write. Made with
/// a nullptr executor it uses the calling thread's env executor per operation, as tcp does.
/// Move-only; closes its descriptor when destroyed. Closing a bound socket leaves its file:
/// removing it is the caller's choice.
class XCORO_EXPORT unix_socket : public detail::descriptor {
 public:
  /// A new socket (SOCK_CLOEXEC). Errors: socket's errno.
  static result<unix_socket> open(executor* ex);
  /// Adopts a connected or listening AF_UNIX stream socket (put in the backend's mode).
  unix_socket(executor* ex, int fd) noexcept;

  /// Binds to `path`. Errors: std::errc::address_in_use if a file (a stale socket
  /// included) or an abstract name of that name exists; std::errc::filename_too_long if
  /// the path does not fit sockaddr_un (107 bytes, or 107 after the '@'): never truncated;
  /// std::errc::invalid_argument if it is empty or holds a '\0'; bind's errno otherwise.
  result<void> bind(std::string_view path);
  result<void> listen(int backlog);
  result<unix_socket> accept();
  result<unix_socket> accept(milliseconds timeout);
  /// Connects to `path` (the names as bind). Errors besides bind's path errors:
  /// std::errc::no_such_file_or_directory when no file is there,
  /// std::errc::connection_refused when nothing listens on it.
  result<void> connect(std::string_view path);
  result<void> connect(std::string_view path, milliseconds timeout);
  /// Reads what is available, at least one byte; errc::eof at end of stream.
  result<std::size_t> read(std::span<std::byte> buf);
  result<std::size_t> read(std::span<std::byte> buf, milliseconds timeout);
  /// One send; may write less than `buf`. std::errc::broken_pipe once the peer is gone
  /// (never SIGPIPE).
  result<std::size_t> write(std::span<const std::byte> buf);
  result<std::size_t> write(std::span<const std::byte> buf, milliseconds timeout);
  /// Writes all of `buf`, looping over partial writes; the timeout bounds the whole call.
  result<void> write_all(std::span<const std::byte> buf);
  result<void> write_all(std::span<const std::byte> buf, milliseconds timeout);
  /// Shuts down the send side: the peer reads errc::eof after what was sent.
  result<void> shutdown();
};

/// A UDP socket. Move-only; closes its descriptor when destroyed.
class XCORO_EXPORT udp : public detail::descriptor {
 public:
  static result<udp> open(executor* ex, const endpoint& family_of);
  udp(executor* ex, int fd) noexcept;

  /// Binds with SO_REUSEADDR and SO_REUSEPORT, as zigcoro.
  result<void> bind(const endpoint& e);
  result<endpoint> local_endpoint() const;
  /// Receives one datagram (as zigcoro: the sender's address is dropped).
  result<std::size_t> read(std::span<std::byte> buf);
  result<std::size_t> read(std::span<std::byte> buf, milliseconds timeout);
  /// Receives one datagram and its sender.
  result<std::pair<std::size_t, endpoint>> read_from(std::span<std::byte> buf);
  result<std::pair<std::size_t, endpoint>> read_from(std::span<std::byte> buf,
                                                     milliseconds timeout);
  result<std::size_t> write(const endpoint& to, std::span<const std::byte> buf);
  result<std::size_t> write(const endpoint& to, std::span<const std::byte> buf,
                            milliseconds timeout);
};

/// A file, pipe, FIFO or terminal. Reads and writes at the current offset or at a given one
/// (pread/pwrite). On the epoll backend pipes, FIFOs, terminals and sockets are polled (and
/// made non-blocking; a pipe, FIFO or terminal first gets a private open file description,
/// so that others sharing it keep their mode); regular files and block devices run on a
/// small thread pool, where an op that has started cannot be interrupted by its timeout or
/// aio::cancel.
class XCORO_EXPORT file : public detail::descriptor {
 public:
  static result<file> open(executor* ex, const std::filesystem::path& path, int flags,
                           int mode = 0644);
  file(executor* ex, int fd) noexcept;

  result<std::size_t> read(std::span<std::byte> buf);
  result<std::size_t> read(std::span<std::byte> buf, milliseconds timeout);
  result<std::size_t> pread(std::span<std::byte> buf, std::uint64_t offset);
  result<std::size_t> pread(std::span<std::byte> buf, std::uint64_t offset,
                            milliseconds timeout);
  result<std::size_t> write(std::span<const std::byte> buf);
  result<std::size_t> write(std::span<const std::byte> buf, milliseconds timeout);
  result<std::size_t> pwrite(std::span<const std::byte> buf, std::uint64_t offset);
  result<std::size_t> pwrite(std::span<const std::byte> buf, std::uint64_t offset,
                             milliseconds timeout);
  /// Writes all of `buf` at the current offset, looping over partial writes; the timeout
  /// bounds the whole call. On an error the bytes before it have been written.
  result<void> write_all(std::span<const std::byte> buf);
  result<void> write_all(std::span<const std::byte> buf, milliseconds timeout);
};

/// The read end of a pipe (aio::pipe, or a child's stdout or stderr). Move-only; closes its
/// descriptor when destroyed. Made with a nullptr executor it uses the calling thread's env
/// executor per operation, as tcp does.
class XCORO_EXPORT pipe_reader {
 public:
  /// Adopts `fd`, the read end of a pipe or FIFO (given the blocking mode the backend
  /// wants, as aio::file does).
  pipe_reader(executor* ex, int fd) noexcept : f_(ex, fd) {}
  /// Reads what is available, at least one byte; errc::eof once every write end is closed
  /// and the pipe is empty. A cancellation point; no heap allocation.
  result<std::size_t> read(std::span<std::byte> buf);
  result<std::size_t> read(std::span<std::byte> buf, milliseconds timeout);
  /// Closes the read end; a writer then gets std::errc::broken_pipe.
  result<void> close() { return f_.close(); }
  int native_handle() const noexcept { return f_.native_handle(); }

 private:
  aio::file f_;
};

/// The write end of a pipe (aio::pipe, or a child's stdin). Move-only; closes its
/// descriptor when destroyed, which the reader sees as errc::eof.
class XCORO_EXPORT pipe_writer {
 public:
  /// Adopts `fd`, the write end of a pipe or FIFO.
  pipe_writer(executor* ex, int fd) noexcept : f_(ex, fd) {}
  /// One write; may write less than `buf`. std::errc::broken_pipe once the read end is
  /// closed: SIGPIPE never ends the process (see aio::pipe). A cancellation point.
  result<std::size_t> write(std::span<const std::byte> buf);
  result<std::size_t> write(std::span<const std::byte> buf, milliseconds timeout);
  /// Writes all of `buf`, looping over partial writes; the timeout bounds the whole call.
  result<void> write_all(std::span<const std::byte> buf);
  result<void> write_all(std::span<const std::byte> buf, milliseconds timeout);
  /// Closes the write end: the reader sees errc::eof after what was written.
  result<void> close() { return f_.close(); }
  int native_handle() const noexcept { return f_.native_handle(); }

 private:
  aio::file f_;
};

/// Both ends of a new pipe.
struct pipe_pair {
  pipe_reader reader;
  pipe_writer writer;
};

/// Makes a pipe (pipe2, O_CLOEXEC). The first call also sets SIGPIPE to ignored if its
/// action is still the default, so that a write to a pipe whose reader is gone is
/// std::errc::broken_pipe on both backends instead of the end of the process; children
/// started by process::spawn get the default action back. Errors: pipe2's errno.
XCORO_EXPORT result<pipe_pair> pipe(executor* ex);

/// Reads `r` to its end into a string: errc::eof ends it normally. std::errc::file_too_large
/// if more than `max` bytes arrive (what was read is dropped); the timeout bounds the whole
/// call. A cancellation point.
XCORO_EXPORT result<std::string> read_all(pipe_reader& r, std::size_t max);
XCORO_EXPORT result<std::string> read_all(pipe_reader& r, std::size_t max, milliseconds timeout);

/// Where a child's stdin, stdout or stderr goes (process_options).
class XCORO_EXPORT stdio {
 public:
  enum class kind : std::uint8_t { inherit, null, pipe, file, fd, to_stdout };
  /// The parent's own descriptor (the default).
  static stdio inherit() noexcept { return stdio(kind::inherit); }
  /// /dev/null.
  static stdio null() noexcept { return stdio(kind::null); }
  /// A new pipe; the parent's end is process::stdin_pipe(), stdout_pipe() or stderr_pipe().
  static stdio pipe() noexcept { return stdio(kind::pipe); }
  /// `path` opened in the child with `flags` (O_RDONLY for stdin; for output, for example
  /// O_WRONLY | O_CREAT | O_TRUNC) and `mode`. A relative path is relative to the parent's
  /// working directory, not to process_options::cwd. An open that fails fails the spawn.
  static stdio file(std::filesystem::path path, int flags, int mode = 0644) {
    stdio s(kind::file);
    s.path_ = std::move(path);
    s.flags_ = flags;
    s.mode_ = mode;
    return s;
  }
  /// A descriptor of the parent's, duplicated into the child; the parent keeps it.
  static stdio fd(int fd) noexcept {
    stdio s(kind::fd);
    s.fd_ = fd;
    return s;
  }
  /// For stderr only: wherever stdout goes.
  static stdio to_stdout() noexcept { return stdio(kind::to_stdout); }

  kind type() const noexcept { return kind_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  int flags() const noexcept { return flags_; }
  int mode() const noexcept { return mode_; }
  int descriptor() const noexcept { return fd_; }

 private:
  explicit stdio(kind k) noexcept : kind_(k) {}
  kind kind_;
  int flags_ = 0;
  int mode_ = 0;
  int fd_ = -1;
  std::filesystem::path path_;
};

/// How process::spawn starts a child.
struct process_options {
  /// The program (argv[0], searched in the parent's PATH when it has no '/') and its
  /// arguments. Must not be empty.
  std::vector<std::string> argv{};
  /// Variables added to the parent's environment (replacing one of the same name), or the
  /// whole environment when clear_env is true.
  std::vector<std::pair<std::string, std::string>> env{};
  bool clear_env = false;
  /// The child's working directory; empty: the parent's.
  std::filesystem::path cwd{};
  stdio in = stdio::inherit();
  stdio out = stdio::inherit();
  stdio err = stdio::inherit();
  /// ~process of a child not yet reaped sends it SIGKILL before handing it to the reaper.
  bool kill_on_drop = false;
};

/// A child process, waited for through a pidfd.
class XCORO_EXPORT process {
 public:
  /// Starts argv[0] (searched in PATH) with posix_spawn, inheriting stdin, stdout, stderr,
  /// the environment and the working directory. (A template only so that a call with
  /// designated initialisers, spawn(ex, {.argv = {...}}), picks the overload below under
  /// GCC, which does not rule this one out by the designators.)
  template <class = void>
  static result<process> spawn(executor* ex, std::vector<std::string> argv);
  /// Starts a child as `o` says (posix_spawn with file actions: nothing runs between fork
  /// and exec). Errors: invalid_argument for an empty argv or to_stdout given for stdin or
  /// stdout; pipe2's errno; posix_spawn's (a missing program, a stdio::file that cannot be
  /// opened, a cwd that does not exist).
  static result<process> spawn(executor* ex, process_options o);
  /// Adopts a child of this process.
  process(executor* ex, pid_t pid);
  process(process&& o) noexcept;
  process& operator=(process&& o) noexcept;
  /// Never blocks. A child not yet reaped (no wait returned its status) is handed to a
  /// process-wide reaper thread, which reaps it when it exits: no zombie is left. With
  /// kill_on_drop it is sent SIGKILL first. The parent's pipe ends are closed.
  ~process();

  /// Waits for the child to exit and reaps it. Returns its exit status, or 128 + the
  /// signal number if a signal killed it.
  result<std::uint32_t> wait();
  result<std::uint32_t> wait(milliseconds timeout);
  /// Sends `sig` through the pidfd (pidfd_send_signal: never a recycled PID). Errors:
  /// std::errc::no_such_process once the child has been reaped; the call's errno.
  result<void> kill(int sig);
  pid_t pid() const noexcept { return pid_; }

  /// The parent's ends of the pipes spawn made for stdio::pipe(). Precondition: that
  /// stream was a pipe and has not been closed (aborts with a message otherwise).
  pipe_writer& stdin_pipe() noexcept;
  pipe_reader& stdout_pipe() noexcept;
  pipe_reader& stderr_pipe() noexcept;
  /// Closes the parent's end of the stdin pipe: the child reads end of file. Errors:
  /// std::errc::bad_file_descriptor if there is none.
  result<void> close_stdin();

 private:
  void drop() noexcept;
  executor* ex_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int open_error_ = 0;
  bool reaped_ = false;
  bool kill_on_drop_ = false;
  std::optional<pipe_writer> in_;
  std::optional<pipe_reader> out_;
  std::optional<pipe_reader> err_;
};

template <class>
result<process> process::spawn(executor* ex, std::vector<std::string> argv) {
  process_options o;
  o.argv = std::move(argv);
  return spawn(ex, std::move(o));
}

/// What run_capture returns.
struct captured {
  /// As process::wait returns it: the exit status, or 128 + the signal number.
  std::uint32_t status = 0;
  std::string out;
  std::string err;
};

/// Runs `argv` with stdin from /dev/null and stdout and stderr to pipes, reads both at once
/// (no deadlock however much either produces), and waits for the child. `timeout` bounds
/// the whole call. Errors: std::errc::timed_out; errc::canceled; std::errc::file_too_large
/// if stdout or stderr exceeds `max_output` bytes; spawn's errors. On any error the child
/// is killed (SIGKILL) and reaped. A cancellation point.
XCORO_EXPORT result<captured> run_capture(executor* ex, std::vector<std::string> argv,
                                          milliseconds timeout,
                                          std::size_t max_output = std::size_t{16} << 20);

/// A wake-up that any thread can send to a coroutine waiting in the loop (an eventfd).
class XCORO_EXPORT async_notification : public detail::descriptor {
 public:
  static result<async_notification> create(executor* ex);

  /// Suspends until notified; notifications sent meanwhile coalesce into one.
  result<void> wait();
  result<void> wait(milliseconds timeout);
  /// Thread-safe; callable from any thread.
  result<void> notify();

 private:
  async_notification(executor* ex, int fd) noexcept : descriptor(ex, fd) {}
};

}  // namespace xcoro::aio

#include "xcoro/signal.hpp"  // aio::signal_set
#include "xcoro/resolve.hpp"  // aio::resolve
#include "xcoro/buffered.hpp"  // aio::buffered_reader, aio::buffered_writer
