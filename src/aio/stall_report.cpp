// The stall report: a watchdog thread that sends the loop's thread a probe signal (SIGURG)
// while the loop has not come back to its blocking poll, and the handler that samples which coroutine runs there.
//
// Why a signal: which coroutine runs is in the loop thread's own thread-local state
// (detail::tls.current and the record's invocation counter), written without atomics by
// every switch. Another thread reading it would be a data race; a handler running on the
// loop's thread reads its own thread's state. A coroutine that runs on, with the same
// record current and the same invocation count (every switch into a coroutine increments
// it), across probes spanning the threshold has not suspended in between: that is the
// report. Everything the handler does is async-signal-safe: integer compares, clock_gettime,
// and a line formatted by hand into a stack buffer and written with write(2).
//
// Why SIGURG: its default action is to ignore it, so a probe that arrives after the handler
// was replaced, or after its watch was destroyed, kills nothing; it is otherwise raised only
// for out-of-band TCP data on a socket with an F_SETOWN owner, which is rare and passed on to
// the previous handler here. Go's runtime chose it for its preemption signal for the same
// reasons. Real-time signals default to terminating the process, and glibc and many
// programs claim them.
#include "aio/stall_report.hpp"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <new>

#include "aio/backend.hpp"
#include "signal_text.hpp"
#include "xcoro/aio.hpp"

namespace xcoro::aio::detail {
namespace {

using xcoro::detail::coro_access;

constexpr int probe_signal = SIGURG;

std::int64_t mono_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// This thread's watches, newest first. Only this thread changes the list, and its signal
// handler walks it; a lock-free atomic pointer store is seen whole by the handler.
thread_local constinit std::atomic<stall_watch*> thread_watches{nullptr};

struct sigaction previous {};

/// Passes a SIGURG that was no probe to whoever handled it before (by default: ignored).
void chain(int sig, siginfo_t* info, void* ctx) noexcept {
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    if (previous.sa_sigaction != nullptr) {
      previous.sa_sigaction(sig, info, ctx);
    }
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN &&
             previous.sa_handler != nullptr) {
    previous.sa_handler(sig);
  }
}

void on_signal(int sig, siginfo_t* info, void* ctx) noexcept {
  int saved_errno = errno;  // write(2) may set it; the interrupted code must not see that
  bool probed = false;
  for (stall_watch* w = thread_watches.load(std::memory_order_relaxed); w != nullptr;
       w = w->next.load(std::memory_order_relaxed)) {
    probed = w->on_probe() || probed;
  }
  if (!probed) {
    chain(sig, info, ctx);
  }
  errno = saved_errno;
}

void install_handler() noexcept {
  struct sigaction sa {};
  sa.sa_sigaction = &on_signal;
  // SA_RESTART: a probe must not make the interrupted coroutine's read(2) fail with EINTR
  // (the loop's own epoll_wait and io_uring_enter return EINTR anyway, which both backends
  // treat as "look again"). SA_ONSTACK: the thread's alternate signal stack, which xcoro
  // gives every thread that makes coroutines, when there is one; a coroutine's stack may
  // be small.
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(probe_signal, &sa, &previous);
}

using xcoro::detail::signal_text::append;
using xcoro::detail::signal_text::append_u64;

void write_line(const char* who, std::size_t who_len, const char* what, std::int64_t ns,
                const char* tail) noexcept {
  char line[192];
  std::size_t n = append(line, 0, sizeof line, "xcoro: ");
  n = append(line, n, sizeof line, who, who_len);
  n = append(line, n, sizeof line, what);
  n = append_u64(line, n, sizeof line, static_cast<std::uint64_t>(ns / 1000000));
  n = append(line, n, sizeof line, tail);
  ssize_t ignored = ::write(STDERR_FILENO, line, n);
  (void)ignored;
}

/// Blocks the probe signal on this thread while it lives.
class probe_blocked {
 public:
  probe_blocked() noexcept {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, probe_signal);
    pthread_sigmask(SIG_BLOCK, &s, &old_);
  }
  ~probe_blocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  probe_blocked(const probe_blocked&) = delete;
  probe_blocked& operator=(const probe_blocked&) = delete;

 private:
  sigset_t old_;
};

}  // namespace

stall_watch::stall_watch(std::chrono::milliseconds threshold) noexcept
    : threshold_ns_(std::chrono::nanoseconds(threshold).count()),
      period_ns_(threshold_ns_ / 4 > 1000000 ? threshold_ns_ / 4 : 1000000),
      loop_thread_(pthread_self()) {}

std::unique_ptr<stall_watch> stall_watch::start(std::chrono::milliseconds threshold,
                                                std::error_code& ec) noexcept {
  static std::once_flag once;
  std::call_once(once, install_handler);
  std::unique_ptr<stall_watch> w(new (std::nothrow) stall_watch(threshold));
  if (w == nullptr) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
  // Registered before the watchdog can send its first probe.
  w->next.store(thread_watches.load(std::memory_order_relaxed), std::memory_order_relaxed);
  thread_watches.store(w.get(), std::memory_order_relaxed);
  // The watchdog never runs the probe handler: only the loop's thread may.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&w->watchdog_, nullptr, &stall_watch::watchdog_main, w.get());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) {
    ec = std::error_code(rc, std::system_category());
    return nullptr;  // ~stall_watch unregisters it, and joins nothing
  }
  w->started_ = true;
  return w;
}

stall_watch::~stall_watch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (started_) {
    pthread_join(watchdog_, nullptr);
  }
  // A probe sent just before the join may still be pending; with the signal blocked, the
  // handler cannot run while the list changes, and after this it finds no pending probe.
  probe_blocked blocked;
  for (std::atomic<stall_watch*>* link = &thread_watches;
       link->load(std::memory_order_relaxed) != nullptr;
       link = &link->load(std::memory_order_relaxed)->next) {
    if (link->load(std::memory_order_relaxed) == this) {
      link->store(next.load(std::memory_order_relaxed), std::memory_order_relaxed);
      break;
    }
  }
  end_episode();
}

void* stall_watch::watchdog_main(void* self) noexcept {
  static_cast<stall_watch*>(self)->watchdog();
  return nullptr;
}

// Wakes every period. While the loop keeps coming back to its blocking poll it does nothing
// else. Once it has not for a period, it probes every period: the handler tells a
// coroutine that runs from a loop that sleeps, or from one busy with ready work (which never
// blocks, so it is probed every period: a few microseconds each). While the loop is in its blocking poll, it waits for half the
// threshold before it probes, since each probe also ends the loop's sleep (EINTR): an idle
// loop is woken about twice per threshold, and a coroutine resumed from inside the poll is
// still caught, reported about threshold / 2 later than one resumed from the ready queue.
void stall_watch::watchdog() noexcept {
  std::unique_lock<std::mutex> lock(mu_);
  std::uint64_t last = beat_.load(std::memory_order_relaxed);
  std::int64_t since = mono_ns();
  std::int64_t parked_at = -1;
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::nanoseconds(period_ns_));
    if (stop_) {
      break;
    }
    std::int64_t now = mono_ns();
    std::uint64_t b = beat_.load(std::memory_order_relaxed);
    if (b != last) {
      last = b;
      since = now;
      parked_.store(false, std::memory_order_relaxed);
      parked_at = -1;
      continue;
    }
    if (parked_.load(std::memory_order_relaxed)) {
      if (parked_at < 0) {
        parked_at = now;
      }
      if (now - parked_at < 8 * threshold_ns_) {
        continue;
      }
      parked_.store(false, std::memory_order_relaxed);  // look again, once in a while
      parked_at = -1;
    }
    std::int64_t stuck = now - since;
    bool idle = waiting_.load(std::memory_order_relaxed);
    if (open_.load(std::memory_order_relaxed) ||
        (stuck >= period_ns_ && (!idle || stuck >= threshold_ns_ / 2))) {
      probes_sent_.fetch_add(1, std::memory_order_release);
      pthread_kill(loop_thread_, probe_signal);
    }
  }
}

void stall_watch::poll_blocking(io_backend& b, const xcoro::executor& ready) {
  backend_.store(&b, std::memory_order_relaxed);
  ready_.store(&ready, std::memory_order_relaxed);
  // Only this thread writes it: a plain increment, no locked read-modify-write.
  beat_.store(beat_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (open_.load(std::memory_order_relaxed)) {
    end_episode_outside_handler();
  }
  waiting_scope waiting(*this);
  b.poll(true);
}

void stall_watch::poll(io_backend& b, const xcoro::executor& ready, bool block) {
  if (block) {
    poll_blocking(b, ready);
  } else {
    b.poll(false);
  }
}

bool stall_watch::on_probe() noexcept {
  std::uint64_t sent = probes_sent_.load(std::memory_order_acquire);
  if (sent == probes_seen_) {
    return false;
  }
  probes_seen_ = sent;
  sample();
  return true;
}

void stall_watch::sample() noexcept {
  xcoro::detail::thread_state& t = xcoro::detail::tls;
  coro* c = t.cur();
  std::uint64_t inv = coro_access::invocation(c);
  std::uint64_t beat = beat_.load(std::memory_order_relaxed);
  std::int64_t now = mono_ns();
  if (waiting_.load(std::memory_order_relaxed) &&
      wait_ctx_.load(std::memory_order_relaxed) == c &&
      wait_inv_.load(std::memory_order_relaxed) == inv) {
    // The loop is in its blocking poll and nothing has run since it entered: it sleeps.
    end_episode();
    return;
  }
  if (c == &t.root) {
    // Root between ticks. It stalls the loop only if the loop has something to do: with
    // nothing in flight and nothing ready, the thread is just doing other work.
    const io_backend* b = backend_.load(std::memory_order_relaxed);
    const xcoro::executor* r = ready_.load(std::memory_order_relaxed);
    if ((b == nullptr || !b->busy()) && (r == nullptr || r->empty())) {
      end_episode();
      parked_.store(true, std::memory_order_relaxed);
      return;
    }
  }
  // The id too: a pooled stack gives a new coroutine the record address of an old one.
  if (c == cur_ && c->id() == cur_id_ && inv == cur_inv_ && beat == cur_beat_) {
    // The same coroutine, not switched out since the previous probe.
    last_seen_ = now;
    if (!reported_ && now - first_seen_ >= threshold_ns_) {
      reported_ = true;
      namespace text = xcoro::detail::signal_text;
      who_len_ = 0;
      if (worker_ >= 0) {
        who_len_ = text::append(who_, who_len_, sizeof who_, "worker ");
        who_len_ = text::append_u64(who_, who_len_, sizeof who_,
                                    static_cast<std::uint64_t>(worker_));
        who_len_ = text::append(who_, who_len_, sizeof who_, ": ");
      }
      who_len_ = text::append_coroutine(who_, who_len_, sizeof who_, c);
      write_line(who_, who_len_, " ran ", now - first_seen_, " ms without suspending\n");
      open_.store(true, std::memory_order_relaxed);
    }
    return;
  }
  end_episode();
  cur_ = c;
  cur_id_ = c->id();
  cur_inv_ = inv;
  cur_beat_ = beat;
  first_seen_ = last_seen_ = now;
}

// Ends the episode in progress; prints its end if it was reported. The total is a lower
// bound: from the first to the last probe that saw the coroutine still running.
void stall_watch::end_episode() noexcept {
  if (reported_) {
    write_line(who_, who_len_, " gave the loop back after at least ", last_seen_ - first_seen_,
               " ms\n");
    open_.store(false, std::memory_order_relaxed);
  }
  reported_ = false;
  cur_ = nullptr;
}

void stall_watch::end_episode_outside_handler() noexcept {
  probe_blocked blocked;
  end_episode();
}

}  // namespace xcoro::aio::detail

namespace xcoro::aio::detail {

void stall_watch_delete::operator()(stall_watch* w) const noexcept {
  delete w;
}

}  // namespace xcoro::aio::detail
