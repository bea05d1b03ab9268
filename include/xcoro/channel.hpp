// Channels between coroutines (zigcoro Channel), with close that wakes everyone,
// rendezvous channels, non-blocking variants and select. See docs/executor.md; a channel
// made on a runtime's worker is shared by all its workers (docs/runtime.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <concepts>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "xcoro/coro.hpp"
#include "xcoro/detail/deadline.hpp"
#include "xcoro/detail/frame_storage.hpp"
#include "xcoro/detail/shared_lock.hpp"
#include "xcoro/detail/wait_queue.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/result.hpp"

#if defined(__GNUC__)
#define XCORO_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define XCORO_ALWAYS_INLINE inline
#endif

namespace xcoro {

/// How a channel is built.
struct channel_options {
  /// Values buffered without a receiver. 0 makes a rendezvous channel (Go's unbuffered
  /// channel): a send completes when a receiver takes the value.
  std::size_t capacity = 1;
  /// Where woken coroutines are queued; nullptr: the env executor at construction.
  xcoro::executor* executor = nullptr;
};

namespace detail {
/// Resolves the executor a channel or sync primitive wakes its waiters through.
XCORO_EXPORT xcoro::executor* default_executor(xcoro::executor* given) noexcept;
/// Aborts: `what` was destroyed while coroutines wait on it.
[[noreturn]] XCORO_EXPORT void fatal_destroyed_busy(const char* what) noexcept;
}  // namespace detail

/// A FIFO channel of T between coroutines of one thread, or of every worker of the runtime
/// whose worker made it (its calls then take the channel's own lock). Blocking calls suspend the
/// calling coroutine (they abort with a message from root, where nothing could resume
/// them); woken coroutines are queued on the executor, so something must call its tick().
/// A channel must outlive the coroutines that use it: destroying it while one waits on it
/// aborts with a message.
template <class T>
class channel {
  static_assert(std::is_move_constructible_v<T>, "channel<T> needs a movable T");

 public:
  explicit channel(channel_options o = {})
      : cap_(o.capacity),
        ex_(detail::default_executor(o.executor)),
        buf_(cap_ > 0 ? std::make_unique<detail::manual<T>[]>(cap_) : nullptr) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;
  ~channel() {
    if (!recvq_.idle() || !sendq_.idle()) {
      detail::fatal_destroyed_busy("channel");
    }
    while (count_ > 0) {
      drop_front();
    }
  }

  /// Sends `value`, suspending while the buffer is full (capacity 0: until a receiver
  /// takes it). errc::channel_closed if the channel is closed, before or while waiting;
  /// errc::canceled if the calling coroutine is cancelled (docs/cancel.md), before or while
  /// waiting. A rendezvous value a receiver took before the cancel arrived is sent: the
  /// call succeeds. Always inlined, like recv: a call that spans the switch costs a
  /// mispredicted return after every resume.
  XCORO_ALWAYS_INLINE result<void> send(T value) { return send_until(value, detail::no_deadline); }

  /// As send(value), giving up with std::errc::timed_out after `timeout` (0 or less: only
  /// if it cannot complete at once). The channel's executor must be an aio loop's, which
  /// runs the deadline.
  result<void> send(T value, std::chrono::milliseconds timeout) {
    return send_until(value, detail::deadline_after(timeout));
  }

  /// Receives the next value, suspending while the channel is empty and open. Buffered
  /// values are still received after close; nullopt once closed and drained, and nullopt
  /// if the calling coroutine is cancelled, before or while waiting (check
  /// cancel_requested()); buffered values then stay in the channel.
  XCORO_ALWAYS_INLINE std::optional<T> recv() {
    std::error_code ignored;
    return receive(detail::no_deadline, ignored);
  }

  /// As recv(), with the reason in the result: errc::channel_closed once closed and
  /// drained, errc::canceled, or std::errc::timed_out after `timeout` (0 or less: only if
  /// nothing can be received at once). The channel's executor must be an aio loop's.
  result<T> recv(std::chrono::milliseconds timeout) {
    std::error_code why;
    std::optional<T> v = receive(detail::deadline_after(timeout), why);
    if (v) {
      return std::move(*v);
    }
    if (why) {
      return why;
    }
    return errc::channel_closed;
  }

  /// Sends without suspending: false if the buffer is full (capacity 0: no receiver waits)
  /// or the channel is closed; the value is then left in place.
  bool try_send(T& value) {
    detail::object_guard<> g(lock_.if_shared());
    return try_send_locked(value);
  }

  /// Receives without suspending: nullopt if nothing can be received right now.
  std::optional<T> try_recv() {
    detail::object_guard<> g(lock_.if_shared());
    return try_recv_locked();
  }

  /// Closes the channel and wakes every waiting sender and receiver. Idempotent.
  void close() {
    detail::object_guard<> g(lock_.if_shared());
    closed_ = true;
    detail::signal_all(recvq_);
    detail::signal_all(sendq_);
  }

  /// True once close() was called.
  bool closed() const noexcept {
    detail::object_guard<> g(lock_.if_shared());
    return closed_;
  }
  /// Values in the buffer (capacity 0: values given back by unwound receivers).
  std::size_t size() const noexcept {
    detail::object_guard<> g(lock_.if_shared());
    return cap_ == 0 ? returned_.size() : count_;
  }
  /// The capacity given at construction.
  std::size_t capacity() const noexcept { return cap_; }

 private:
  template <class>
  friend class recv_case;
  template <class>
  friend class send_case;

  // The state below is read and changed only with lock_ held (for a shared channel): the
  // public calls take it, and the helpers from here on expect it taken.
  bool try_send_locked(T& value) {
    if (closed_) {
      return false;
    }
    if (cap_ == 0) {
      return give_to_receiver(value);
    }
    if (count_ < cap_) {
      push(std::move(value));
      return true;
    }
    return false;
  }

  std::optional<T> try_recv_locked() {
    if (count_ > 0) {
      std::optional<T> v(pop());
      // zigcoro: one sender may now have room. Chained: if values remain, a receiver
      // that was passed over (see docs/executor.md) gets its turn.
      detail::signal_one(sendq_);
      if (count_ > 0) {
        detail::signal_one(recvq_);
      }
      return v;
    }
    if (cap_ == 0) {
      if (!returned_.empty()) {
        std::optional<T> v(std::move(returned_.front()));
        returned_.pop_front();
        return v;
      }
      if (detail::wait_entry* e = sendq_.claim_first()) {
        std::optional<T> v(std::move(*static_cast<T*>(e->slot)));
        e->slot = nullptr;  // tells the sender its value was taken
        detail::wake_claimed(*e);
        return v;
      }
    }
    return std::nullopt;
  }

  /// send() until the deadline `at` (detail/deadline.hpp). A shared channel takes its own,
  /// out-of-line copy: the unshared one, inlined in every send, stays as it was without
  /// runtimes.
  XCORO_ALWAYS_INLINE result<void> send_until(T& value, std::int64_t at) {
    if (lock_.shared()) [[unlikely]] {
      return send_until_shared(value, at);
    }
    return send_until_in<false>(value, at);
  }
  [[gnu::noinline]] result<void> send_until_shared(T& value, std::int64_t at) {
    return send_until_in<true>(value, at);
  }
  template <bool Shared>
  XCORO_ALWAYS_INLINE result<void> send_until_in(T& value, std::int64_t at) {
    if (detail::cancel_pending_here()) [[unlikely]] {
      return errc::canceled;
    }
    detail::object_guard<Shared> g(&lock_);
    for (;;) {
      if (closed_) {
        return errc::channel_closed;
      }
      if (cap_ == 0) {
        if (give_to_receiver(value)) {
          return {};
        }
      } else if (count_ < cap_) {
        push(std::move(value));
        return {};
      }
      // A second pass follows a wake-up whose room another coroutine took first: the
      // cancel may have come meanwhile.
      if (at == detail::already_expired) {
        return std::make_error_code(std::errc::timed_out);
      }
      if (detail::cancel_pending_here()) [[unlikely]] {
        return errc::canceled;
      }
      detail::waiter w(Shared ? detail::wake_executor(ex_, true) : ex_, "channel::send",
                       detail::cancellable);
      if constexpr (Shared) {
        w.lock = &lock_;
      }
      detail::wait_entry e(w);
      if (cap_ == 0) {
        e.slot = &value;
      }
      sendq_.push_back(e);
      g.release();
#if defined(__cpp_exceptions)
      try {
        w.wait(at);
      } catch (...) {
        g.reacquire();
        // Unwound (frame_t destroyed) after being signalled for room or a close that it
        // will never use: the next sender gets the turn. A value a receiver took is sent.
        if (w.signalled && w.why == detail::withdrawn::no && !(cap_ == 0 && e.slot == nullptr)) {
          pass_on();
        }
        throw;
      }
#else
      w.wait(at);
#endif
      g.reacquire();
      if (cap_ == 0 && e.slot == nullptr) {
        return {};  // a receiver took it
      }
      if (w.why != detail::withdrawn::no) [[unlikely]] {
        return w.error();
      }
      // Signalled: room, or closed; look again.
    }
  }

// GCC 12 reports the empty std::optional<T> returned below as "may be used uninitialized"
// once receive_in is inlined into a caller (a known false positive of its optional<T>
// tracking); nothing reads the payload of an empty optional.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
  /// recv() until the deadline `at`: a value, or nullopt with `why` set (left empty when
  /// the channel is closed and drained). Shared or not, as send_until.
  XCORO_ALWAYS_INLINE std::optional<T> receive(std::int64_t at, std::error_code& why) {
    if (lock_.shared()) [[unlikely]] {
      return receive_shared(at, why);
    }
    return receive_in<false>(at, why);
  }
  [[gnu::noinline]] std::optional<T> receive_shared(std::int64_t at, std::error_code& why) {
    return receive_in<true>(at, why);
  }
  template <bool Shared>
  XCORO_ALWAYS_INLINE std::optional<T> receive_in(std::int64_t at, std::error_code& why) {
    if (detail::cancel_pending_here()) [[unlikely]] {
      why = errc::canceled;
      return std::nullopt;
    }
    detail::object_guard<Shared> g(&lock_);
    for (;;) {
      if (std::optional<T> v = try_recv_locked()) {
        return v;
      }
      if (closed_) {
        return std::nullopt;
      }
      if (at == detail::already_expired) {
        why = std::make_error_code(std::errc::timed_out);
        return std::nullopt;
      }
      if (detail::cancel_pending_here()) [[unlikely]] {
        why = errc::canceled;
        return std::nullopt;
      }
      detail::waiter w(Shared ? detail::wake_executor(ex_, true) : ex_, "channel::recv",
                       detail::cancellable);
      if constexpr (Shared) {
        w.lock = &lock_;
      }
      detail::wait_entry e(w);
      std::optional<T> handed;
      e.slot = &handed;
      recvq_.push_back(e);
      g.release();
#if defined(__cpp_exceptions)
      try {
        w.wait(at);
      } catch (...) {
        g.reacquire();
        // Unwound (frame_t destroyed) after a sender handed us a value: the sender counts
        // it as delivered, so it must not die with this stack. Signalled for a buffered
        // value it will never take: the next receiver gets the turn.
        if (handed) {
          return_value(std::move(*handed));
        } else if (w.signalled && w.why == detail::withdrawn::no) {
          pass_on();
        }
        throw;
      }
#else
      w.wait(at);
#endif
      g.reacquire();
      if (handed) {
        return handed;  // rendezvous: a sender gave it to us directly
      }
      if (w.why != detail::withdrawn::no) [[unlikely]] {
        why = w.error();
        return std::nullopt;
      }
    }
  }

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  T pop() {
    T v(std::move(buf_[head_].get()));
    drop_front();
    return v;
  }

  /// Destroys the oldest buffered value in place.
  void drop_front() noexcept {
    buf_[head_].destroy();
    head_ = head_ + 1 == cap_ ? 0 : head_ + 1;
    --count_;
  }

  XCORO_ALWAYS_INLINE void push(T&& v) {
    std::size_t tail = head_ + count_;
    if (tail >= cap_) {
      tail -= cap_;
    }
    buf_[tail].emplace(std::move(v));
    ++count_;
    // zigcoro: one receiver may now have a value. Chained: if room remains, a sender that
    // was passed over gets its turn.
    detail::signal_one(recvq_);
    if (count_ < cap_) {
      detail::signal_one(sendq_);
    }
  }

  /// Rendezvous: hands `value` to a waiting receiver, if any.
  bool give_to_receiver(T& value) {
    detail::wait_entry* e = recvq_.claim_first();
    if (e == nullptr) {
      return false;
    }
    static_cast<std::optional<T>*>(e->slot)->emplace(std::move(value));
    detail::wake_claimed(*e);
    return true;
  }

  /// A value handed to a rendezvous receiver that was unwound before it could take it:
  /// to the next waiting receiver, else kept until one comes (the only time a capacity-0
  /// channel holds a value without a sender waiting with it).
  void return_value(T&& v) {
    if (!give_to_receiver(v)) {
      returned_.push_back(std::move(v));
    }
  }

  /// Wakes one more waiter if the channel's state lets one proceed; used when a waiter
  /// that was signalled here went another way.
  void pass_on() {
    if (count_ > 0 || closed_ || (cap_ == 0 && (!sendq_.empty() || !returned_.empty()))) {
      detail::signal_one(recvq_);
    }
    if (count_ < cap_ || closed_ || (cap_ == 0 && !recvq_.empty())) {
      detail::signal_one(sendq_);
    }
  }

  std::size_t cap_;
  xcoro::executor* ex_;
  // Shared between a runtime's workers if made on one (detail/shared_lock.hpp); guards
  // everything below when it is.
  mutable detail::object_lock lock_;
  std::unique_ptr<detail::manual<T>[]> buf_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  bool closed_ = false;
  detail::wait_queue recvq_;
  detail::wait_queue sendq_;
  std::deque<T> returned_;  // capacity 0 only; see return_value
};

/// A receive case of select(): fires when a value can be received from `ch` or `ch` is
/// closed and drained; the value (or nullopt) goes to `out`.
template <class T>
class recv_case {
 public:
  recv_case(channel<T>& ch, std::optional<T>& out) noexcept : ch_(&ch), out_(&out) {}

  /// Internal, for select(): the case's side of the protocol.
  bool try_now() {
    *out_ = ch_->try_recv_locked();
    return out_->has_value() || ch_->closed_;
  }
  void enlist(detail::wait_entry& e) {
    handed_.reset();
    e.slot = &handed_;
    ch_->recvq_.push_back(e);
  }
  bool completed(const detail::wait_entry&) {
    if (handed_) {
      *out_ = std::move(handed_);
      return true;
    }
    return false;
  }
  void pass_on() { ch_->pass_on(); }
  /// Unwinding: a value handed over but not taken goes back to the channel.
  void give_back() {
    if (handed_) {
      ch_->return_value(std::move(*handed_));
      handed_.reset();
    }
  }
  xcoro::executor* exec() const noexcept { return ch_->ex_; }
  detail::object_lock* lock() const noexcept { return ch_->lock_.if_shared(); }

 private:
  channel<T>* ch_;
  std::optional<T>* out_;
  std::optional<T> handed_;
};

/// A send case of select(): fires when `value` can be sent on `ch` (it is moved out), or
/// when `ch` is closed (the value is then left in place; check ch.closed()).
template <class T>
class send_case {
 public:
  send_case(channel<T>& ch, T& value) noexcept : ch_(&ch), value_(&value) {}

  /// Internal, for select(): the case's side of the protocol.
  bool try_now() { return ch_->closed_ || ch_->try_send_locked(*value_); }
  void enlist(detail::wait_entry& e) {
    e.slot = value_;
    ch_->sendq_.push_back(e);
  }
  bool completed(const detail::wait_entry& e) { return e.slot == nullptr; }
  void pass_on() { ch_->pass_on(); }
  void give_back() {}
  xcoro::executor* exec() const noexcept { return ch_->ex_; }
  detail::object_lock* lock() const noexcept { return ch_->lock_.if_shared(); }

 private:
  channel<T>* ch_;
  T* value_;
};

template <class T>
recv_case(channel<T>&, std::optional<T>&) -> recv_case<T>;
template <class T>
send_case(channel<T>&, T&) -> send_case<T>;

namespace detail {
/// Calls fn(case) for the case at runtime index `i`.
template <class Tuple, class Fn, std::size_t... I>
void visit_case(Tuple& cases, std::size_t i, Fn&& fn, std::index_sequence<I...>) {
  ((I == i ? (fn(std::get<I>(cases)), 0) : 0), ...);
}
}  // namespace detail

namespace detail {
/// What select accepts: recv_case and send_case.
template <class C>
concept select_case = requires(std::remove_reference_t<C>& c, wait_entry& e) {
  { c.try_now() } -> std::convertible_to<bool>;
  c.enlist(e);
};

/// The locks of the cases' channels (nullptr for an unshared one), in argument order.
template <class... Cases>
struct select_locks {
  explicit select_locks(Cases&... cases) noexcept : of{cases.lock()...} {}
  object_lock* of[sizeof...(Cases)];
};

/// Performs the first case that can proceed now; its index, or n if none can.
template <class Tuple, std::size_t... I>
std::size_t try_cases(Tuple& all, std::index_sequence<I...>) {
  constexpr std::size_t n = sizeof...(I);
  std::size_t fired = n;
  ((fired == n && std::get<I>(all).try_now() ? (fired = I, 0) : 0), ...);
  return fired;
}

/// select() until the deadline `at` (detail/deadline.hpp).
template <class... Cases>
result<std::size_t> select_until(std::int64_t at, Cases&... cases) {
  constexpr std::size_t n = sizeof...(Cases);
  static_assert(n > 0, "select needs at least one case");
  if (cancel_pending_here()) [[unlikely]] {
    return errc::canceled;
  }
  auto all = std::forward_as_tuple(cases...);
  using seq = std::make_index_sequence<n>;
  // The locks of the shared channels (made on a runtime's workers), all held, in address
  // order, while the cases are tried and enlisted, so that no send or recv on another
  // worker falls between. A signal through one of them claims the waiter (detail::claim),
  // so two channels cannot both fire it.
  multi_guard<n> g(select_locks<Cases...>(cases...).of);
  std::size_t passed_over = n;  // a case that was signalled but did not fire
  for (;;) {
    std::size_t fired = try_cases(all, seq{});
    if (fired != n) {
      if (passed_over != n && passed_over != fired) {
        visit_case(all, passed_over, [](auto& c) { c.pass_on(); }, seq{});
      }
      return fired;
    }
    // Nothing could proceed: the signal that woke us (if any) was not needed elsewhere.
    passed_over = n;
    if (at == already_expired) {
      return std::make_error_code(std::errc::timed_out);
    }
    if (cancel_pending_here()) [[unlikely]] {
      return errc::canceled;
    }
    waiter w(wake_executor(std::get<0>(all).exec(), g.shared()), "select", cancellable);
    if (g.shared()) {
      w.lock = &g;
    }
    std::optional<wait_entry> entries[n];
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((entries[I].emplace(w, static_cast<int>(I)), std::get<I>(all).enlist(*entries[I])), ...);
    }(seq{});
    g.release();
#if defined(__cpp_exceptions)
    try {
      w.wait(at);
    } catch (...) {
      g.reacquire();
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (std::get<I>(all).give_back(), ...);
      }(seq{});
      // Signalled through a case it will never perform: that channel's next waiter gets
      // the turn (a value handed over was given back just above).
      if (w.signalled && w.why == withdrawn::no && w.fired >= 0) {
        visit_case(all, static_cast<std::size_t>(w.fired), [](auto& c) { c.pass_on(); },
                   seq{});
      }
      throw;
    }
#else
    w.wait(at);
#endif
    g.reacquire();
    if (w.why != withdrawn::no) [[unlikely]] {
      return w.error();  // withdrawn before any case signalled: nothing was handed over
    }
    auto signalled = static_cast<std::size_t>(w.fired);
    bool done = false;
    visit_case(all, signalled, [&](auto& c) { done = c.completed(*entries[signalled]); },
               seq{});
    if (done) {
      return signalled;
    }
    passed_over = signalled;
  }
}
}  // namespace detail

/// Waits until one of the cases can proceed, performs it, and returns its index (Go's
/// select). When several can proceed at once, the first in argument order wins. Suspends
/// the calling coroutine while none can; it is woken through the first case's executor.
/// errc::canceled if the calling coroutine is cancelled, before or while waiting (no case
/// is then performed).
template <class... Cases>
  requires(sizeof...(Cases) > 0 && (detail::select_case<Cases> && ...))
result<std::size_t> select(Cases&&... cases) {
  return detail::select_until(detail::no_deadline, cases...);
}

/// As select(cases...), giving up with std::errc::timed_out after `timeout` (0 or less:
/// only if no case can proceed at once). The first case's executor must be an aio loop's.
template <class... Cases>
  requires(sizeof...(Cases) > 0 && (detail::select_case<Cases> && ...))
result<std::size_t> select(std::chrono::milliseconds timeout, Cases&&... cases) {
  return detail::select_until(detail::deadline_after(timeout), cases...);
}

/// Performs the first case (in argument order) that can proceed now and returns its
/// index; nullopt if none can (Go's select with a default case). Never suspends.
template <class... Cases>
  requires(sizeof...(Cases) > 0 && (detail::select_case<Cases> && ...))
std::optional<std::size_t> try_select(Cases&&... cases) {
  auto all = std::forward_as_tuple(cases...);
  detail::multi_guard<sizeof...(Cases)> g(detail::select_locks<Cases...>(cases...).of);
  std::size_t fired = detail::try_cases(all, std::make_index_sequence<sizeof...(Cases)>{});
  if (fired == sizeof...(Cases)) {
    return std::nullopt;
  }
  return fired;
}

}  // namespace xcoro
