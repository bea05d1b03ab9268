// The opt-in stall report (loop_options::stall_report, XCORO_STALL_REPORT_MS): a watchdog
// thread per loop that notices when the loop's thread has not come back to the loop for a
// while, and a probe signal whose handler, on the loop's thread, names the coroutine that
// runs there. docs/aio.md ("Stall report") has the design; src/aio/stall_report.cpp the
// details.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <system_error>

#include "xcoro/detail/coro_record.hpp"
#include "xcoro/executor.hpp"

namespace xcoro::aio::detail {

class io_backend;

/// One loop's stall watch. Made, used and destroyed on the loop's thread (the watchdog
/// thread it starts touches only the atomics and the stop flag).
class stall_watch {
 public:
  /// Installs the probe handler (once per process), registers a watch for the calling
  /// thread and starts its watchdog. Returns nullptr and sets `ec` if the thread cannot
  /// be started.
  static std::unique_ptr<stall_watch> start(std::chrono::milliseconds threshold,
                                            std::error_code& ec) noexcept;
  /// Stops and joins the watchdog, then prints the end of an episode still open.
  ~stall_watch();
  stall_watch(const stall_watch&) = delete;
  stall_watch& operator=(const stall_watch&) = delete;

  /// Brackets the loop's blocking poll: while it lives, the context that entered the poll
  /// being the running one, with no switch since, means the loop sleeps (or runs its
  /// backend), not that something stalls it. Nests (a tick inside a tick).
  class waiting_scope {
   public:
    explicit waiting_scope(stall_watch& w) noexcept
        : w_(w),
          was_waiting_(w.waiting_.load(std::memory_order_relaxed)),
          was_ctx_(w.wait_ctx_.load(std::memory_order_relaxed)),
          was_inv_(w.wait_inv_.load(std::memory_order_relaxed)) {
      coro* c = xcoro::detail::tls.cur();
      w.wait_ctx_.store(c, std::memory_order_relaxed);
      w.wait_inv_.store(xcoro::detail::coro_access::invocation(c), std::memory_order_relaxed);
      w.waiting_.store(true, std::memory_order_relaxed);
    }
    ~waiting_scope() {
      w_.waiting_.store(was_waiting_, std::memory_order_relaxed);
      w_.wait_ctx_.store(was_ctx_, std::memory_order_relaxed);
      w_.wait_inv_.store(was_inv_, std::memory_order_relaxed);
    }
    waiting_scope(const waiting_scope&) = delete;
    waiting_scope& operator=(const waiting_scope&) = delete;

   private:
    stall_watch& w_;
    bool was_waiting_;
    coro* was_ctx_;
    std::uint64_t was_inv_;
  };

  /// The loop's blocking poll, b.poll(true), with the report told: the loop has control
  /// (a beat; an episode that was reported ends), and sleeps until the poll returns (a
  /// waiting_scope). Ticks that find ready work do not come here: they cost a loop without
  /// the report nothing, and with it they leave the beat alone and are probed.
  void poll_blocking(io_backend& b, const xcoro::executor& ready);
  /// As poll_blocking, for a runtime's worker: `block` false asks the kernel without
  /// sleeping (work was posted meanwhile), which does not count as waiting.
  void poll(io_backend& b, const xcoro::executor& ready, bool block);

  /// The loop belongs to worker `index` of a runtime: reports begin "worker N: ".
  void set_worker(int index) noexcept { worker_ = index; }

  /// Called by the probe signal's handler on the loop's thread: if a probe for this watch
  /// is pending, samples the running coroutine and returns true. Async-signal-safe.
  bool on_probe() noexcept;

  /// This thread's next watch (the handler walks the thread's list).
  std::atomic<stall_watch*> next{nullptr};

 private:
  explicit stall_watch(std::chrono::milliseconds threshold) noexcept;
  static void* watchdog_main(void* self) noexcept;
  void watchdog() noexcept;
  void sample() noexcept;
  void end_episode() noexcept;
  void end_episode_outside_handler() noexcept;

  const std::int64_t threshold_ns_;
  const std::int64_t period_ns_;      // the watchdog's wake-up period: threshold / 4
  const pthread_t loop_thread_;

  // Shared with the watchdog (atomics; relaxed: each is a hint, read on its own).
  std::atomic<std::uint64_t> beat_{0};        // blocking polls of the loop
  std::atomic<bool> waiting_{false};          // in the loop's blocking poll (waiting_scope)
  std::atomic<bool> open_{false};             // a stall was reported and has not ended
  std::atomic<std::uint64_t> probes_sent_{0};  // probes the handler has yet to take
  // A probe found root running while the loop had nothing in flight and nothing ready: the
  // thread is doing other work, not stalling the loop. The watchdog then holds its probes
  // (each would also interrupt that work's system calls with EINTR) until the loop polls
  // again, or for 8 thresholds at most.
  std::atomic<bool> parked_{false};

  // Loop thread only (its code and its signal handler). Atomic so that a store is whole
  // when the handler interrupts it.
  std::atomic<coro*> wait_ctx_{nullptr};
  std::atomic<std::uint64_t> wait_inv_{0};
  // What the loop has to do (set at each blocking poll; read by the handler on this thread).
  std::atomic<const io_backend*> backend_{nullptr};
  std::atomic<const xcoro::executor*> ready_{nullptr};

  // Signal handler only (and ~stall_watch / beat with the probe signal blocked): the
  // sample of the episode in progress.
  std::uint64_t probes_seen_ = 0;
  coro* cur_ = nullptr;  // compared, never dereferenced after it stops running
  std::uint64_t cur_id_ = 0;
  std::uint64_t cur_inv_ = 0;
  std::uint64_t cur_beat_ = 0;
  std::int64_t first_seen_ = 0;
  std::int64_t last_seen_ = 0;
  bool reported_ = false;
  char who_[96] = {};  // "[worker N: ]coroutine 'name' (id N)", copied when reported
  int worker_ = -1;    // the runtime worker this loop belongs to, or -1
  std::size_t who_len_ = 0;

  // The watchdog's stop request.
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  pthread_t watchdog_{};
  bool started_ = false;  // watchdog_ runs (loop thread only)
};

}  // namespace xcoro::aio::detail
