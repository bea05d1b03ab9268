// The multi-core runtime: worker threads, each with its own aio loop and executor, that run
// coroutines started by block_on and spawn. See docs/runtime.md.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include "xcoro/aio.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"

namespace xcoro {

/// How a runtime is built.
struct runtime_options {
  /// Worker threads; 0: std::thread::hardware_concurrency().
  unsigned threads = 0;
  /// Idle workers run ready coroutines queued on busy ones.
  bool work_stealing = true;
  /// Each worker's loop.
  aio::loop_options loop = {};
  /// spawn's default stack; 0: the env default.
  std::size_t stack_size = 0;
};

namespace detail {
class runtime_state;

/// One block_on call, type-erased: its steps run on a worker, in the worker's root.
struct block_on_job {
  /// Makes the coroutine and runs it up to its first suspension; sets `c`, or `error`.
  void (*start)(block_on_job*) noexcept = nullptr;
  /// After the coroutine finished: takes its result (or exception) and frees it.
  void (*collect)(block_on_job*) noexcept = nullptr;
  /// The runtime is deadlocked (or shutting down): destroys the unfinished coroutine.
  void (*discard)(block_on_job*) noexcept = nullptr;
  coro* c = nullptr;
  std::error_code error;
};

/// Runs `j` on a worker of `s` and blocks the calling thread until it is collected or
/// discarded; errc::deadlock, or the error start() set. Aborts on a worker thread.
XCORO_EXPORT std::error_code run_block_on(runtime_state& s, block_on_job& j);
/// Aborts with a message naming `call` unless the caller runs on a runtime's worker.
XCORO_EXPORT void require_worker(const char* call) noexcept;
/// spawn's default stack size on this worker (runtime_options::stack_size).
XCORO_EXPORT std::size_t spawn_stack_size() noexcept;
/// Queues `c` (status start, made on this worker) to start on some worker of this runtime.
XCORO_EXPORT void spawn_start(coro* c) noexcept;
}  // namespace detail

/// A set of worker threads, each running its own aio loop, executor and envs, so that
/// everything of the single-thread library works inside its coroutines. Move-only.
class XCORO_EXPORT runtime {
 public:
  /// Starts the workers. Errors: a loop's setup error (see aio::loop::create), or the
  /// system error of starting a thread.
  static result<runtime> create(runtime_options o = {});
  runtime(runtime&& o) noexcept;
  runtime& operator=(runtime&& o) noexcept;
  /// Cancels every coroutine still running on the workers (docs/cancel.md), runs the
  /// workers until those finish, and joins the threads.
  ~runtime();

  /// The number of worker threads.
  unsigned threads() const noexcept;

  /// Runs `f(args...)` in a new coroutine on a worker and blocks the calling thread until
  /// it finishes; returns its result (a result<T> is passed through, as aio::run does) or
  /// rethrows its exception. errc::deadlock when every worker is idle, with no IO or timer
  /// in flight, while f is unfinished, and stays so for a grace period of 100 ms (for a
  /// block_on of another thread still on its way); f is then destroyed. Call it from a
  /// thread that is not one of this runtime's workers.
  template <class F, class... Args>
    requires detail::async_callable<F, Args...>
  auto block_on(F&& f, Args&&... args)
      -> typename detail::flat_result<detail::async_result_t<F, Args...>>::type;

 private:
  explicit runtime(detail::runtime_state* s) noexcept : s_(s) {}
  void destroy() noexcept;
  detail::runtime_state* s_ = nullptr;
};

/// The index of the worker running the caller, from 0; -1 outside any runtime.
XCORO_EXPORT int this_worker() noexcept;

/// Inside a runtime's coroutine: starts `f(args...)` in a new coroutine on `stack`, to run
/// on some worker of the runtime (not eagerly on the caller). Outside a runtime it aborts
/// with a message. The frame_t may be awaited from any worker; destroying it before the
/// coroutine finished aborts (xawait it, after cancel to stop it).
template <class F, class... Args>
  requires detail::async_callable<F, Args...>
auto spawn(stack_arg stack, F&& f, Args&&... args)
    -> result<frame_t<detail::async_result_t<F, Args...>>> {
  detail::require_worker("spawn");
  auto fr = frame_t<detail::async_result_t<F, Args...>>::init(stack, std::forward<F>(f),
                                                               std::forward<Args>(args)...);
  if (fr) {
    detail::spawn_start(fr->frame());
  }
  return fr;
}

/// spawn on the runtime's default stack (runtime_options::stack_size).
template <class F, class... Args>
  requires detail::async_callable<F, Args...>
auto spawn(F&& f, Args&&... args) -> result<frame_t<detail::async_result_t<F, Args...>>> {
  detail::require_worker("spawn");
  return spawn(stack_arg(detail::spawn_stack_size()), std::forward<F>(f),
               std::forward<Args>(args)...);
}

template <class F, class... Args>
  requires detail::async_callable<F, Args...>
auto runtime::block_on(F&& f, Args&&... args)
    -> typename detail::flat_result<detail::async_result_t<F, Args...>>::type {
  using R = detail::async_result_t<F, Args...>;
  using out_t = typename detail::flat_result<R>::type;
  using call_t = std::tuple<std::decay_t<F>, std::decay_t<Args>...>;
  struct job : detail::block_on_job {
    explicit job(call_t&& c) : call(std::move(c)) {}
    call_t call;
    std::optional<frame_t<R>> frame;
    std::optional<out_t> out;
#if defined(__cpp_exceptions)
    std::exception_ptr thrown;
#endif
  };
  job j(call_t(std::forward<F>(f), std::forward<Args>(args)...));
  j.start = [](detail::block_on_job* b) noexcept {
    job& self = static_cast<job&>(*b);
    auto fr = xasync([&self]() -> R {
      return std::apply(
          [](auto& fn, auto&... as) -> R { return std::invoke(std::move(fn), std::move(as)...); },
          self.call);
    });
    if (!fr) {
      self.error = fr.error();
      return;
    }
    self.c = fr->frame();
    self.frame.emplace(std::move(*fr));
  };
  j.collect = [](detail::block_on_job* b) noexcept {
    job& self = static_cast<job&>(*b);
#if defined(__cpp_exceptions)
    try {
#endif
      if constexpr (std::is_void_v<R>) {
        xawait(*self.frame);
        self.out.emplace();
      } else {
        self.out.emplace(xawait(std::move(*self.frame)));
      }
#if defined(__cpp_exceptions)
    } catch (...) {
      self.thrown = std::current_exception();
    }
#endif
    self.frame.reset();
  };
  j.discard = [](detail::block_on_job* b) noexcept { static_cast<job&>(*b).frame.reset(); };
  if (std::error_code ec = detail::run_block_on(*s_, j)) {
    return ec;
  }
#if defined(__cpp_exceptions)
  if (j.thrown) {
    std::rethrow_exception(j.thrown);
  }
#endif
  return std::move(*j.out);
}

}  // namespace xcoro
