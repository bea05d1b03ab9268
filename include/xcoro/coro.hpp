// Stackful asymmetric coroutines: resume/suspend, typed frames, generators, xasync/xawait.
// The names and semantics follow zigcoro; see docs/api.md, docs/zigcoro.md and docs/design.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>
#include <type_traits>
#include <utility>

#include "xcoro/detail/coro_record.hpp"
#include "xcoro/detail/frame_storage.hpp"
#include "xcoro/detail/switch.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"
#include "xcoro/stack.hpp"

namespace xcoro {

class executor;

namespace detail {
struct stack_arg_access;
}

/// An untyped coroutine handle (zigcoro Frame). Never owning.
using frame = coro*;

/// The thread-local environment (zigcoro Env). Zero fields mean "the built-in default".
struct env {
  /// Where owned stacks come from; nullptr: default_stack_allocator().
  xcoro::stack_allocator* stack_allocator = nullptr;
  /// Size of owned stacks when none is given; 0: xcoro::default_stack_size.
  std::size_t default_stack_size = 0;
  /// The executor channels use when given none.
  xcoro::executor* executor = nullptr;
};

/// Replaces this thread's environment.
XCORO_EXPORT void init_env(const env& e) noexcept;
/// This thread's environment, for reading or changing single fields.
XCORO_EXPORT env& get_env() noexcept;

/// Which stack a new coroutine gets (zigcoro getStack). Implicitly built from nothing or
/// nullptr (the env's default size from the env's allocator), from a byte count (that many
/// bytes from the env's allocator), or from a stack_span (caller memory, used as given
/// and never freed by xcoro). Owned stacks are given back to the allocator that made them.
class stack_arg {
 public:
  stack_arg() noexcept = default;
  stack_arg(std::nullptr_t) noexcept {}
  stack_arg(std::size_t bytes) noexcept : size_(bytes) {}
  stack_arg(stack_span caller_owned) noexcept : span_(caller_owned), caller_owned_(true) {}

 private:
  friend struct detail::stack_arg_access;
  stack_span span_{};
  std::size_t size_ = 0;
  bool caller_owned_ = false;
};

/// The running coroutine; the thread's root coroutine when called from root. Never null.
inline frame xframe() noexcept {
  return detail::tls.cur();
}

/// False in the thread's root, true inside any coroutine.
inline bool in_coro() noexcept {
  return detail::tls.running_coroutine() != nullptr;
}

namespace detail {
using a_ = coro_access;

struct stack_arg_access {
  static const stack_span& span(const stack_arg& s) noexcept { return s.span_; }
  static std::size_t size(const stack_arg& s) noexcept { return s.size_; }
  static bool caller_owned(const stack_arg& s) noexcept { return s.caller_owned_; }
};

/// Prints "xcoro: <call>: coroutine '<name>' (id N) <what>" and aborts.
[[noreturn]] XCORO_EXPORT void fatal(const char* call, const coro* c, const char* what) noexcept;
/// xresume's rare cases: first resume, finished, running, foreign or null target.
XCORO_EXPORT void resume_slow(thread_state& t, coro* cur, coro* f);
/// xsuspend's rare cases: called in root, resumer finished. Does not return.
[[noreturn]] XCORO_EXPORT void suspend_fatal(thread_state& t, const char* call) noexcept;
/// Throws forced_unwind for `c` (or aborts under -fno-exceptions).
[[noreturn]] XCORO_EXPORT void throw_forced_unwind(coro* c);
/// Checks the stack canary of `c`; aborts with a message naming `call` when broken.
XCORO_EXPORT void check_canary(coro* c, const char* call) noexcept;

struct created {
  coro* c;        // nullptr on failure
  void* storage;
};
/// Gets a stack, carves the record and `storage_size` bytes of typed storage from its high
/// end, and prepares the first switch into `entry`. The coroutine is in status start.
/// On failure returns {nullptr, nullptr} and sets `ec` (errc::stack_too_small or the
/// allocator's error). Returned in registers: xasync's cost is dominated by such details.
XCORO_EXPORT created coro_create(const stack_arg& stack, std::size_t storage_size,
                                 std::size_t storage_align, void (*entry)(coro*),
                                 std::error_code& ec);
/// Before a frame_t lets go of its coroutine: unwinds a suspended one (forced_unwind) if
/// `unwind` (the caller's code has exceptions), aborts for a running one or one waiting in
/// xresume.
XCORO_EXPORT void coro_retire(coro* c, bool unwind) noexcept;

#if defined(__cpp_exceptions)
inline constexpr bool unwind_on_destroy = true;
#else
// Decided in the user's code, not the library's: forced_unwind thrown into code built
// without exceptions would terminate.
inline constexpr bool unwind_on_destroy = false;
#endif
/// Frees the coroutine's stack if owned. The record is gone afterwards.
XCORO_EXPORT void coro_free(coro* c) noexcept;
/// Lets another thread start `c`, a coroutine in status start made on this thread: takes
/// it off this thread's records and marks it flag_handed_off. Only coro_adopt may touch it
/// next (docs/runtime.md, "Coroutines").
XCORO_EXPORT void coro_hand_off(coro* c) noexcept;
/// On the thread that will run it: makes a handed-off coroutine this thread's.
XCORO_EXPORT void coro_adopt(coro* c) noexcept;
/// When a runtime's worker thread ends: takes every record off this thread's list and
/// forgets their owner, so that a frame still held elsewhere is freed where it is
/// destroyed, without the list of a thread that no longer exists.
XCORO_EXPORT void coro_orphan_all() noexcept;
/// From root, after handed-off coroutines finished on this thread: tells their awaiters
/// (on any thread) and lets any thread free them. A finishing coroutine cannot do it
/// itself: it still runs on the stack that its awaiter may then free. Returns whether
/// there were any.
XCORO_EXPORT bool coro_publish_finished() noexcept;
/// Runs `fn(ctx)` holding the hand-off word of the handed-off coroutine `c`, which guards
/// its adoption, its end and its awaiter queue, so that another thread may look at it
/// safely; once `c`'s end is published nothing changes it, and fn runs without the word.
XCORO_EXPORT void with_handoff_lock(coro* c, void (*fn)(void* ctx), void* ctx) noexcept;
/// Prints "xcoro: coroutine '<name>' (id N) ended with an exception that nothing
/// observed: <what()>" on stderr: its frame_t is being destroyed and no xawait, xnext or
/// xreturned rethrew it.
XCORO_EXPORT void report_unobserved(const coro* c, const frame_storage_base* s) noexcept;

struct nothing {};
template <class T>
using arg_or_nothing = std::conditional_t<std::is_void_v<T>, nothing, T>;

#if defined(XCORO_DEBUG_CHECKS) || !defined(NDEBUG)
inline constexpr bool debug_checks = true;
#else
inline constexpr bool debug_checks = false;
#endif

/// Yield/Inject slots of the running coroutine, checked against the caller's types.
template <class Yield, class Inject>
yield_slots<Yield, Inject>* current_slots(const char* call) noexcept {
  thread_state& t = tls;
  coro* c = t.cur();
  if (c == &t.root) {
    fatal(call, c, "called from root, not from a coroutine");
  }
  frame_storage_base* b = a_::frame(c);
  if (b == nullptr || !same_tag(b->tag, yield_inject_tag<Yield, Inject>())) {
    fatal(call, c, "is not a frame_t with this Yield/Inject type");
  }
  return static_cast<yield_slots<Yield, Inject>*>(b);
}
}  // namespace detail

/// Switches into `f`, recording the caller as f's resumer; returns when control comes
/// back (f suspends, finishes, or something switches back). No-op if f is the caller.
/// Aborts with a message if f has finished, is running, or belongs to another thread.
inline void xresume(frame f) {
  detail::thread_state& t = detail::tls;
  coro* cur = t.cur();
  if (f == cur) {
    return;
  }
  if (f == nullptr || detail::a_::state(f) != status::suspended || detail::a_::owner(f) != &t)
      [[unlikely]] {
    detail::resume_slow(t, cur, f);
    return;
  }
  detail::a_::state(cur) = status::suspended;
  detail::a_::resumer(f) = cur;
  detail::a_::state(f) = status::active;
  ++detail::a_::invocation(f);
  t.current = f;
  detail::switch_to(t, cur, f, trace_event::resume);
}

namespace detail {
/// The body of xsuspend: checks, bookkeeping and the switch to the resumer. Returns true
/// when the coroutine came back because its frame_t is being destroyed.
inline bool suspend_to_resumer(thread_state& t, const char* call) noexcept {
  coro* cur = t.running_coroutine();
  if (cur == nullptr) [[unlikely]] {
    suspend_fatal(t, call);
  }
  if constexpr (debug_checks) {
    check_canary(cur, call);
  }
  coro* to = a_::resumer(cur);
  if (a_::state(to) == status::done || (a_::flags(cur) & flag_unwind)) [[unlikely]] {
    suspend_fatal(t, call);
  }
  a_::state(cur) = status::suspended;
  a_::state(to) = status::active;
  ++a_::invocation(to);
  t.current = to;
  switch_to(t, cur, to, trace_event::suspend);
  return (a_::flags(cur) & flag_unwind) != 0;
}
}  // namespace detail

/// Switches back to the running coroutine's most recent resumer. Aborts with a message
/// when called from root. Throws forced_unwind if the coroutine's frame_t is destroyed
/// while it is suspended here.
inline void xsuspend() {
  detail::thread_state& t = detail::tls;
  if (detail::suspend_to_resumer(t, "xsuspend")) [[unlikely]] {
    detail::throw_forced_unwind(t.current);
  }
}

/// xsuspend that reports instead of aborting: errc::suspend_from_main in root,
/// errc::stack_overflow when the stack canary has been overwritten (checked first, without
/// suspending). If the coroutine's frame_t is destroyed while it is suspended here, returns
/// errc::canceled: the coroutine must then return without suspending again.
XCORO_EXPORT std::error_code xsuspend_safe() noexcept;

/// Suspends the running coroutine; `fn()` then runs on the resumer's side right after the
/// switch, while this coroutine is fully suspended (Zig's `suspend { ... }`). fn may
/// resume this coroutine. fn must not throw.
template <class F>
void xsuspend_block(F&& fn) {
  if (!in_coro()) {
    detail::suspend_fatal(detail::tls, "xsuspend_block");
  }
  using Fn = std::remove_reference_t<F>;
  struct block : detail::suspend_block_base {
    Fn* fn;
  };
  block b;
  b.fn = &fn;
  b.run = [](detail::suspend_block_base* p) { (*static_cast<block*>(p)->fn)(); };
  detail::tls.pending_block = &b;
  xsuspend();
}

/// A typed coroutine (zigcoro FrameT / CoroT): move-only, owns its coroutine and, for an
/// owned stack, the stack. R is the function's result; Yield and Inject make it a
/// generator that yields Yield values and receives Inject values.
template <class R, class Yield = void, class Inject = void>
class [[nodiscard("a discarded frame_t destroys its coroutine at once")]] frame_t {
  static_assert(!std::is_reference_v<R> && !std::is_reference_v<Yield> &&
                    !std::is_reference_v<Inject>,
                "frame_t stores values; use pointers or std::reference_wrapper for references");
  using slots_t = detail::frame_slots<R, Yield, Inject>;
  using yield_arg = detail::arg_or_nothing<Yield>;
  using inject_arg = detail::arg_or_nothing<Inject>;

 public:
  /// An empty frame_t that owns nothing.
  frame_t() noexcept = default;

  /// Creates the coroutine for `f(args...)` on `stack` without starting it. The decayed
  /// callable and arguments are stored by value in the coroutine's stack. Errors:
  /// errc::stack_too_small, or the stack allocator's error.
  template <class F, class... Args>
  static result<frame_t> init(stack_arg stack, F&& f, Args&&... args) {
    using S = detail::frame_storage<R, Yield, Inject, std::decay_t<F>, std::decay_t<Args>...>;
    static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                  "frame_t::init: f is not callable with these arguments");
    std::error_code ec;
    detail::created made = detail::coro_create(stack, sizeof(S), alignof(S), &S::run, ec);
    if (made.c == nullptr) {
      return ec;
    }
    S* s = ::new (made.storage) S;
    s->tag = detail::yield_inject_tag<Yield, Inject>();
    s->destroy = &S::destroy_all;
#if defined(__cpp_exceptions)
    try {
#endif
      s->call.emplace(std::forward<F>(f), std::forward<Args>(args)...);
#if defined(__cpp_exceptions)
    } catch (...) {
      S::destroy_all(s);
      detail::coro_free(made.c);
      throw;
    }
#endif
    s->slots |= detail::slot_call;
    detail::a_::frame(made.c) = s;
    return frame_t(made.c, s);
  }

  frame_t(frame_t&& o) noexcept
      : c_(std::exchange(o.c_, nullptr)), s_(std::exchange(o.s_, nullptr)) {}
  frame_t& operator=(frame_t&& o) noexcept {
    if (this != &o) {
      reset();
      c_ = std::exchange(o.c_, nullptr);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  /// zigcoro deinit. A suspended coroutine is first unwound (forced_unwind), so its
  /// destructors run; then an owned stack is freed. Aborts if the coroutine is running.
  ~frame_t() { reset(); }

  /// The coroutine's status; status::done for an empty frame_t.
  xcoro::status status() const noexcept { return c_ ? c_->status() : xcoro::status::done; }
  /// The untyped handle, for xresume and the coro accessors.
  xcoro::frame frame() const noexcept { return c_; }

  /// First resume of a generator; returns the first yielded value. Rethrows an exception
  /// that ended the coroutine; aborts if it returns instead of yielding.
  Yield xnext_start() {
    if (c_ == nullptr || c_->status() != xcoro::status::start) {
      detail::fatal("xnext_start", c_, "was already started");
    }
    xresume(c_);
    return take_yield("xnext_start");
  }
  /// Resumes a generator (Inject = void) and returns its next yielded value.
  Yield xnext() requires std::is_void_v<Inject> {
    check_suspended("xnext");
    xresume(c_);
    return take_yield("xnext");
  }
  /// Injects `v`, resumes the generator and returns its next yielded value.
  Yield xnext(inject_arg v) requires(!std::is_void_v<Inject>) {
    check_suspended("xnext");
    put_inject(std::move(v));
    xresume(c_);
    return take_yield("xnext");
  }
  /// Resumes the generator for the last time (Inject = void); it must finish. Returns its
  /// result; rethrows its exception; aborts if it yields instead.
  R xnext_end() requires std::is_void_v<Inject> {
    check_suspended("xnext_end");
    xresume(c_);
    return finish_end();
  }
  /// Injects `v` and resumes the generator for the last time; it must finish.
  R xnext_end(inject_arg v) requires(!std::is_void_v<Inject>) {
    check_suspended("xnext_end");
    put_inject(std::move(v));
    xresume(c_);
    return finish_end();
  }

  /// Inside the coroutine: yields (Yield = void: nothing) and returns the injected value.
  /// Aborts if the running coroutine is not a frame_t with these Yield/Inject types.
  static Inject xyield() requires std::is_void_v<Yield> {
    auto* s = detail::current_slots<Yield, Inject>("xyield");
    s->slots |= detail::slot_yield;
    xsuspend();
    return take_inject(s);
  }
  /// Inside the coroutine: yields `v` and returns the value injected by the next xnext.
  static Inject xyield(yield_arg v) requires(!std::is_void_v<Yield>) {
    auto* s = detail::current_slots<Yield, Inject>("xyield");
    if (s->slots & detail::slot_yield) {
      s->yielded.destroy();
    }
    s->yielded.emplace(std::move(v));
    s->slots |= detail::slot_yield;
    xsuspend();
    return take_inject(s);
  }

  /// The result of the finished coroutine. Rethrows its exception. A copyable R is copied
  /// (call it any number of times); a move-only R is moved out once.
  R xreturned() {
    if (c_ == nullptr || c_->status() != xcoro::status::done) {
      detail::fatal("xreturned", c_, "has not finished");
    }
    return take_return("xreturned", std::is_copy_constructible<R>{});
  }
  /// As xreturned, but always moves the result out (used by xawait on an rvalue frame_t).
  R take_returned() {
    if (c_ == nullptr || c_->status() != xcoro::status::done) {
      detail::fatal("xawait", c_, "has not finished");
    }
    return take_return("xawait", std::false_type{});
  }

 private:
  frame_t(coro* c, slots_t* s) noexcept : c_(c), s_(s) {}

  void reset() noexcept {
    if (c_ != nullptr) {
      detail::coro_retire(c_, detail::unwind_on_destroy);
      if ((s_->slots & (detail::slot_error | detail::slot_seen)) == detail::slot_error)
          [[unlikely]] {
        detail::report_unobserved(c_, s_);
      }
      s_->destroy(s_);
      detail::coro_free(c_);
      c_ = nullptr;
      s_ = nullptr;
    }
  }

  void check_suspended(const char* call) const noexcept {
    if (c_ == nullptr || c_->status() != xcoro::status::suspended) {
      detail::fatal(call, c_, "is not suspended at a yield");
    }
  }

  void put_inject(inject_arg&& v) {
    if (s_->slots & detail::slot_inject) {
      s_->injected.destroy();
    }
    s_->injected.emplace(std::move(v));
    s_->slots |= detail::slot_inject;
  }

  static Inject take_inject(detail::yield_slots<Yield, Inject>* s) {
    if constexpr (!std::is_void_v<Inject>) {
      if (!(s->slots & detail::slot_inject)) {
        detail::fatal("xyield", xframe(), "was resumed without an injected value (use xnext)");
      }
      Inject v(std::move(s->injected.get()));
      s->injected.destroy();
      s->slots &= static_cast<std::uint8_t>(~detail::slot_inject);
      return v;
    }
  }

  void rethrow_error() {
#if defined(__cpp_exceptions)
    if (s_->slots & detail::slot_error) {
      s_->slots |= detail::slot_seen;
      std::rethrow_exception(s_->error);
    }
#endif
  }

  Yield take_yield(const char* call) {
    rethrow_error();
    if (c_->status() == xcoro::status::done) {
      detail::fatal(call, c_, "returned instead of yielding (use xnext_end or xawait)");
    }
    if constexpr (!std::is_void_v<Yield>) {
      if (!(s_->slots & detail::slot_yield)) {
        detail::fatal(call, c_, "suspended without yielding a value");
      }
      Yield v(std::move(s_->yielded.get()));
      s_->yielded.destroy();
      s_->slots &= static_cast<std::uint8_t>(~detail::slot_yield);
      return v;
    } else {
      s_->slots &= static_cast<std::uint8_t>(~detail::slot_yield);
    }
  }

  R finish_end() {
    rethrow_error();
    if (c_->status() != xcoro::status::done) {
      detail::fatal("xnext_end", c_, "yielded or suspended instead of returning (use xnext)");
    }
    return take_return("xnext_end", std::is_copy_constructible<R>{});
  }

  template <bool Copy>
  R take_return(const char* call, std::bool_constant<Copy>) {
    rethrow_error();
    if constexpr (!std::is_void_v<R>) {
      if (s_->slots & detail::slot_taken) {
        detail::fatal(call, c_, "had its result moved out already");
      }
      if constexpr (Copy) {
        return s_->returned.get();
      } else {
        R v(std::move(s_->returned.get()));
        s_->returned.destroy();
        s_->slots |= detail::slot_taken;
        return v;
      }
    } else {
      (void)call;
    }
  }

  coro* c_ = nullptr;
  slots_t* s_ = nullptr;
};

namespace detail {
template <class F, class... Args>
using async_result_t = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
template <class F, class... Args>
concept async_callable = std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>;

/// xawait's wait: returns once `c` is done. The caller suspends meanwhile; it is woken by
/// `c`'s completion directly if it started `c` (zigcoro), else through the env executor.
/// Aborts in root on an unfinished `c`.
XCORO_EXPORT void await_done(coro* c);
/// Returns the index of the first of `cs[0..n)` found done, waiting as await_done does.
XCORO_EXPORT std::size_t await_any(coro* const* cs, std::size_t n);

template <class R>
using value_or_monostate = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

template <class R, class Y, class I>
value_or_monostate<R> take_result(frame_t<R, Y, I>& f) {
  if constexpr (std::is_void_v<R>) {
    f.xreturned();
    return {};
  } else {
    return f.take_returned();
  }
}
}  // namespace detail

/// Creates a coroutine for `f(args...)` on `stack` and runs it at once, up to its first
/// suspend or to its end (zigcoro xasync). Arguments are stored decayed, by value.
template <class F, class... Args>
  requires detail::async_callable<F, Args...>
auto xasync(stack_arg stack, F&& f, Args&&... args)
    -> result<frame_t<detail::async_result_t<F, Args...>>> {
  auto fr = frame_t<detail::async_result_t<F, Args...>>::init(stack, std::forward<F>(f),
                                                               std::forward<Args>(args)...);
  if (fr) {
    xresume(fr->frame());
  }
  return fr;
}

/// xasync on the env's default stack.
template <class F, class... Args>
  requires detail::async_callable<F, Args...>
auto xasync(F&& f, Args&&... args) -> result<frame_t<detail::async_result_t<F, Args...>>> {
  return xasync(stack_arg(), std::forward<F>(f), std::forward<Args>(args)...);
}

/// Suspends the calling coroutine until `f` finishes, then returns its result (or rethrows
/// its exception). Returns at once for a finished frame. From root, `f` must already be
/// finished (otherwise: abort with a message).
template <class R, class Y, class I>
R xawait(frame_t<R, Y, I>& f) {
  detail::await_done(f.frame());
  return f.xreturned();
}
/// As above, moving the result out.
template <class R, class Y, class I>
R xawait(frame_t<R, Y, I>&& f) {
  detail::await_done(f.frame());
  return f.take_returned();
}

/// Waits for all the frames and returns their results as a tuple (void results become
/// std::monostate), moving them out. Rethrows the first exception in argument order, after
/// all have finished.
template <class... Frames>
auto xawait_all(Frames&... frames) {
  (detail::await_done(frames.frame()), ...);
  // Braces: the results are taken (and exceptions rethrown) in argument order.
  return std::tuple<detail::value_or_monostate<decltype(frames.xreturned())>...>{
      detail::take_result(frames)...};
}

/// Waits for every frame of a range (e.g. a std::vector<frame_t<R>>) and returns their
/// results in order (nothing for R = void), moving them out.
template <class Range>
auto xawait_all(Range& frames) -> decltype(void(frames.begin()->frame()),
                                           std::vector<detail::value_or_monostate<
                                               decltype(frames.begin()->xreturned())>>()) {
  using value = detail::value_or_monostate<decltype(frames.begin()->xreturned())>;
  for (auto& f : frames) {
    detail::await_done(f.frame());
  }
  std::vector<value> out;
  out.reserve(static_cast<std::size_t>(std::distance(frames.begin(), frames.end())));
  for (auto& f : frames) {
    out.push_back(detail::take_result(f));
  }
  return out;
}

/// Waits until at least one of the frames has finished and returns the index of the first
/// finished one in argument order (zigcoro's planned xawaitAsReady). Results stay in the
/// frames: xawait the one it names.
template <class... Frames>
std::size_t xawait_any(Frames&... frames) {
  coro* const cs[] = {frames.frame()...};
  return detail::await_any(cs, sizeof...(Frames));
}

/// xawait_any over a range of frames.
template <class Range>
auto xawait_any(Range& frames) -> decltype(void(frames.begin()->frame()), std::size_t()) {
  std::vector<coro*> cs;
  for (auto& f : frames) {
    cs.push_back(f.frame());
  }
  return detail::await_any(cs.data(), cs.size());
}

/// xresume for a typed frame.
template <class R, class Y, class I>
void xresume(frame_t<R, Y, I>& f) {
  xresume(f.frame());
}

}  // namespace xcoro
