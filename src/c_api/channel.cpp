// The C API's channels and select: a ring of elements whose size is chosen at creation,
// copied in and out of the caller's memory, blocking through the wait queues and waiters
// of the C++ channel (include/xcoro/detail/wait_queue.hpp) and select over them through
// its select (include/xcoro/channel.hpp).
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "c_api/c_api.hpp"
#include "c_api/wait_count.hpp"
#include "xcoro/channel.hpp"

namespace xcoro::c_api {
namespace {

/// Copies one element of `n` bytes (1..XCORO_CHAN_MAX_ELEM) between buffers that do not
/// overlap. Up to 32 bytes as two moves of a fixed size that overlap in the middle (`n` is
/// the channel's element size, so each branch goes the same way on every call), above that
/// through memcpy, whose call and own dispatch on the size would cost small elements more
/// than the moves.
[[gnu::always_inline]] inline void copy_elem(void* dst, const void* src,
                                             std::size_t n) noexcept {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  auto two = [&]<std::size_t W>() XCORO_C_LAMBDA_INLINE {
    unsigned char a[W], b[W];
    std::memcpy(a, s, W);
    std::memcpy(b, s + n - W, W);
    std::memcpy(d, a, W);
    std::memcpy(d + n - W, b, W);
  };
  if (n >= 8) {
    if (n <= 16) {
      two.template operator()<8>();
    } else if (n <= 32) {
      two.template operator()<16>();
    } else {
      std::memcpy(d, s, n);
    }
  } else if (n >= 4) {
    two.template operator()<4>();
  } else {
    // 1 to 3 bytes: the first, the middle and the last (some the same).
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
}

/// Where a waiting receiver takes a value a rendezvous sender hands it: straight into the
/// caller's buffer, `done` set once it is there.
struct recv_slot {
  void* out;
  bool done = false;
};

/// The C code for a withdrawn wait.
int withdrawn_code(detail::withdrawn why) noexcept {
  return why == detail::withdrawn::canceled ? XCORO_ECANCELED : XCORO_ETIMEDOUT;
}

/// Why a call that found nothing to do cannot wait: XCORO_EROOT (C++ aborts there, C
/// reports), XCORO_ETIMEDOUT for a zero timeout, XCORO_ECANCELED (on a second pass, after a
/// wake-up whose room or value another coroutine took first, the cancel may have come
/// meanwhile); 0 if it can.
[[gnu::always_inline]] inline int why_not_wait(std::int64_t at) noexcept {
  if (in_root()) [[unlikely]] {
    return XCORO_EROOT;
  }
  if (at == detail::already_expired) {
    return XCORO_ETIMEDOUT;
  }
  if (detail::cancel_pending_here()) [[unlikely]] {
    return XCORO_ECANCELED;
  }
  return 0;
}

/// The count of the C calls that wait on an unshared channel: one thread's. A call counts
/// across each of its switches only: between waking and returning (or waiting again) it
/// does not switch, so nothing else on the thread can see the channel meanwhile.
struct plain_count {
  void add() noexcept { ++n; }
  void drop() noexcept { --n; }
  bool busy() const noexcept { return n != 0; }
  std::size_t n = 0;
};

/// A hold on a shared channel's count of waiting calls, taken when a call first waits and
/// dropped when the call returns, after it released the lock for the last time.
class lazy_hold {
 public:
  explicit lazy_hold(wait_count& w) noexcept : w_(w) {}
  ~lazy_hold() {
    if (held_) {
      w_.drop();
    }
  }
  lazy_hold(const lazy_hold&) = delete;
  lazy_hold& operator=(const lazy_hold&) = delete;
  void take() noexcept {
    if (!held_) {
      w_.add();
      held_ = true;
    }
  }

 private:
  wait_count& w_;
  bool held_ = false;
};

/// The deadline of a C timeout: XCORO_FOREVER (any negative) waits without one.
inline std::int64_t deadline_of(std::int64_t timeout_ms) noexcept {
  return timeout_ms < 0 ? detail::no_deadline
                        : detail::deadline_after(std::chrono::milliseconds(timeout_ms));
}

}  // namespace

class c_case;

}  // namespace xcoro::c_api

/// The C handle: a channel of elem_size-byte elements, its ring of capacity elements in the
/// same block (from the handle allocator), after the struct. Like channel<T>: FIFO wait
/// queues, wake-ups through the executor, and, when made on a runtime's worker, its own
/// lock around every change (detail/shared_lock.hpp).
struct xcoro_chan final {
 public:
  /// A new channel, or nullptr when out of memory (or when the ring would take more than
  /// half the address space: no allocator could give it, and the size would overflow).
  static xcoro_chan* make(std::size_t elem, std::size_t capacity, xcoro::executor* ex) noexcept {
    constexpr std::size_t most = PTRDIFF_MAX / 2;
    if (capacity != 0 && elem > most / capacity) {
      return nullptr;
    }
    void* p = xcoro::c_api::c_alloc(sizeof(xcoro_chan) + elem * capacity);
    if (p == nullptr) {
      return nullptr;
    }
    return ::new (p) xcoro_chan(elem, capacity, ex);
  }

  /// Frees the channel unless a C call waits on it or has not returned from a wait yet.
  int destroy() noexcept {
    if (busy()) {
      return XCORO_EBUSY;
    }
    std::size_t bytes = sizeof(xcoro_chan) + end_;
    this->~xcoro_chan();
    xcoro::c_api::c_free(this, bytes);
    return XCORO_OK;
  }

  xcoro::executor* exec() const noexcept { return ex_; }
  /// Counts a call that waits (a select) until uncount_wait().
  void count_wait() noexcept {
    if (shared()) {
      waiting_.add();
    } else {
      waits_.add();
    }
  }
  void uncount_wait() noexcept {
    if (shared()) {
      waiting_.drop();
    } else {
      waits_.drop();
    }
  }

  /// xcoro_chan_send until `at`: a C code. The unshared path is inlined into the caller,
  /// the shared one (which also counts its wait) is out of line, as in channel<T>.
  [[gnu::always_inline]] int send(const void* value, std::int64_t at) {
    if (shared()) [[unlikely]] {
      return send_shared(value, at);
    }
    return send_in<false>(value, at, nullptr);
  }

  /// xcoro_chan_recv until `at`, as send.
  [[gnu::always_inline]] int recv(void* out, std::int64_t at) {
    if (shared()) [[unlikely]] {
      return recv_shared(out, at);
    }
    return recv_in<false>(out, at, nullptr);
  }

  int try_send(const void* value) {
    xcoro::detail::object_guard<> g(lock_.if_shared());
    if (try_send_locked(value)) {
      return XCORO_OK;
    }
    return closed_ ? XCORO_ECLOSED : XCORO_EAGAIN;
  }

  int try_recv(void* out) {
    xcoro::detail::object_guard<> g(lock_.if_shared());
    if (try_recv_locked(out)) {
      return XCORO_OK;
    }
    return closed_ ? XCORO_ECLOSED : XCORO_EAGAIN;
  }

  void close() {
    xcoro::detail::object_guard<> g(lock_.if_shared());
    closed_ = true;
    xcoro::detail::signal_all(recvq_);
    xcoro::detail::signal_all(sendq_);
  }

  bool closed() const noexcept {
    xcoro::detail::object_guard<> g(lock_.if_shared());
    return closed_;
  }
  std::size_t size() const noexcept {
    xcoro::detail::object_guard<> g(lock_.if_shared());
    return cap_ == 0 ? returned_.size() / elem_ : count_;
  }
  std::size_t capacity() const noexcept { return cap_; }
  std::size_t elem_size() const noexcept { return elem_; }

 private:
  friend class xcoro::c_api::c_case;

  xcoro_chan(std::size_t elem, std::size_t capacity, xcoro::executor* ex) noexcept
      : elem_(elem),
        cap_(capacity),
        end_(elem * capacity),
        ex_(xcoro::detail::default_executor(ex)) {}
  ~xcoro_chan() = default;
  xcoro_chan(const xcoro_chan&) = delete;
  xcoro_chan& operator=(const xcoro_chan&) = delete;

  unsigned char* ring() noexcept { return reinterpret_cast<unsigned char*>(this + 1); }
  /// Made on a runtime's worker, and shared by its workers.
  bool shared() const noexcept { return lock_.shared(); }

  /// Whether a C call waits on the channel, or was woken (signalled, withdrawn, or passed
  /// over by a select that fired elsewhere) and has not returned yet. The wait queues
  /// cannot tell: a withdrawn waiter's entry may be unlinked before it runs.
  bool busy() const noexcept {
    return shared() ? waiting_.busy() : waits_.busy();
  }

  // The state below is read and changed only with lock_ held (for a shared channel): the
  // calls above take it, and the helpers from here on expect it taken.

  /// Appends an element and wakes a receiver; chained, as in channel<T>: if room remains, a
  /// sender that was passed over gets its turn.
  [[gnu::always_inline]] void push(const void* value) noexcept {
    xcoro::c_api::copy_elem(ring() + tail_, value, elem_);
    tail_ += elem_;
    if (tail_ == end_) {
      tail_ = 0;
    }
    ++count_;
    if (!recvq_.empty()) {
      xcoro::detail::signal_one(recvq_);
    }
    if (count_ < cap_ && !sendq_.empty()) {
      xcoro::detail::signal_one(sendq_);
    }
  }

  [[gnu::always_inline]] bool try_send_locked(const void* value) {
    if (closed_) {
      return false;
    }
    if (cap_ == 0) {
      return give_to_receiver(value);
    }
    if (count_ < cap_) {
      push(value);
      return true;
    }
    return false;
  }

  [[gnu::always_inline]] bool try_recv_locked(void* out) {
    if (count_ > 0) {
      xcoro::c_api::copy_elem(out, ring() + head_, elem_);
      head_ += elem_;
      if (head_ == end_) {
        head_ = 0;
      }
      --count_;
      // One sender may now have room; chained: if values remain, a receiver that was
      // passed over gets its turn.
      if (!sendq_.empty()) {
        xcoro::detail::signal_one(sendq_);
      }
      if (count_ > 0 && !recvq_.empty()) {
        xcoro::detail::signal_one(recvq_);
      }
      return true;
    }
    if (cap_ == 0) {
      return take_rendezvous(out);
    }
    return false;
  }

  /// Capacity 0: a value given back by an unwound receiver, else a waiting sender's.
  bool take_rendezvous(void* out) noexcept {
    if (!returned_.empty()) {
      std::memcpy(out, returned_.data(), elem_);
      returned_.erase(returned_.begin(), returned_.begin() + static_cast<std::ptrdiff_t>(elem_));
      return true;
    }
    if (xcoro::detail::wait_entry* e = sendq_.claim_first()) {
      xcoro::c_api::copy_elem(out, e->slot, elem_);
      e->slot = nullptr;  // tells the sender its value was taken
      xcoro::detail::wake_claimed(*e);
      return true;
    }
    return false;
  }

  /// Rendezvous: hands the value to a waiting receiver, if any.
  bool give_to_receiver(const void* value) noexcept {
    xcoro::detail::wait_entry* e = recvq_.claim_first();
    if (e == nullptr) {
      return false;
    }
    auto* s = static_cast<xcoro::c_api::recv_slot*>(e->slot);
    xcoro::c_api::copy_elem(s->out, value, elem_);
    s->done = true;
    xcoro::detail::wake_claimed(*e);
    return true;
  }

  /// A value handed to a rendezvous receiver that was unwound before it could take it: to
  /// the next waiting receiver, else kept until one comes.
  void return_value(const void* value) {
    if (!give_to_receiver(value)) {
      const auto* p = static_cast<const unsigned char*>(value);
      returned_.insert(returned_.end(), p, p + elem_);
    }
  }

  /// Wakes one more waiter if the state lets one proceed; used when a waiter that was
  /// signalled here went another way.
  void pass_on() noexcept {
    if (count_ > 0 || closed_ || (cap_ == 0 && (!sendq_.empty() || !returned_.empty()))) {
      xcoro::detail::signal_one(recvq_);
    }
    if (count_ < cap_ || closed_ || (cap_ == 0 && !recvq_.empty())) {
      xcoro::detail::signal_one(sendq_);
    }
  }

  [[gnu::noinline]] int send_shared(const void* value, std::int64_t at) {
    xcoro::c_api::lazy_hold h(waiting_);
    return send_in<true>(value, at, &h);
  }
  [[gnu::noinline]] int recv_shared(void* out, std::int64_t at) {
    xcoro::c_api::lazy_hold h(waiting_);
    return recv_in<true>(out, at, &h);
  }

  /// The call of send() and send_shared(): `hold` counts a shared channel's waits; an
  /// unshared one counts them in waits_ around each switch.
  template <bool Shared>
  [[gnu::always_inline]] int send_in(const void* value, std::int64_t at,
                                     xcoro::c_api::lazy_hold* hold) {
    namespace d = xcoro::detail;
    // A cancelled coroutine sends nothing, as in C++.
    if (d::cancel_pending_here()) [[unlikely]] {
      return XCORO_ECANCELED;
    }
    d::object_guard<Shared> g(&lock_);
    for (;;) {
      if (closed_) {
        return XCORO_ECLOSED;
      }
      if (cap_ == 0) {
        if (give_to_receiver(value)) {
          return XCORO_OK;
        }
      } else if (count_ < cap_) {
        push(value);
        return XCORO_OK;
      }
      if (int r = xcoro::c_api::why_not_wait(at)) {
        return r;
      }
      if constexpr (Shared) {
        hold->take();
      } else {
        waits_.add();
      }
      d::waiter w(Shared ? d::wake_executor(ex_, true) : ex_, "xcoro_chan_send",
                  d::cancellable);
      if constexpr (Shared) {
        w.lock = &lock_;
      }
      d::wait_entry e(w);
      // Capacity 0: a receiver copies the value from the caller's buffer.
      e.slot = const_cast<void*>(value);
      sendq_.push_back(e);
      g.release();
#if defined(__cpp_exceptions)
      try {
        w.wait(at);
      } catch (...) {
        if constexpr (!Shared) {
          waits_.drop();
        }
        g.reacquire();
        // Unwound after being signalled for room or a close that it will never use: the
        // next sender gets the turn. A value a receiver took is sent.
        if (w.signalled && w.why == d::withdrawn::no && !(cap_ == 0 && e.slot == nullptr)) {
          pass_on();
        }
        throw;
      }
#else
      w.wait(at);
#endif
      if constexpr (!Shared) {
        waits_.drop();
      }
      g.reacquire();
      if (cap_ == 0 && e.slot == nullptr) {
        return XCORO_OK;  // a receiver took it
      }
      if (w.why != d::withdrawn::no) [[unlikely]] {
        return xcoro::c_api::withdrawn_code(w.why);
      }
      // Signalled: room, or closed; look again.
    }
  }

  /// The call of recv() and recv_shared(), as send_in.
  template <bool Shared>
  [[gnu::always_inline]] int recv_in(void* out, std::int64_t at,
                                     xcoro::c_api::lazy_hold* hold) {
    namespace d = xcoro::detail;
    if (d::cancel_pending_here()) [[unlikely]] {
      return XCORO_ECANCELED;
    }
    d::object_guard<Shared> g(&lock_);
    for (;;) {
      if (try_recv_locked(out)) {
        return XCORO_OK;
      }
      if (closed_) {
        return XCORO_ECLOSED;
      }
      if (int r = xcoro::c_api::why_not_wait(at)) {
        return r;
      }
      if constexpr (Shared) {
        hold->take();
      } else {
        waits_.add();
      }
      d::waiter w(Shared ? d::wake_executor(ex_, true) : ex_, "xcoro_chan_recv",
                  d::cancellable);
      if constexpr (Shared) {
        w.lock = &lock_;
      }
      d::wait_entry e(w);
      xcoro::c_api::recv_slot handed{out};
      e.slot = &handed;
      recvq_.push_back(e);
      g.release();
#if defined(__cpp_exceptions)
      try {
        w.wait(at);
      } catch (...) {
        if constexpr (!Shared) {
          waits_.drop();
        }
        g.reacquire();
        // Unwound after a sender handed us a value: the sender counts it as delivered, so
        // it goes back to the channel. Signalled for a buffered value it will never take:
        // the next receiver gets the turn.
        if (handed.done) {
          return_value(out);
        } else if (w.signalled && w.why == d::withdrawn::no) {
          pass_on();
        }
        throw;
      }
#else
      w.wait(at);
#endif
      if constexpr (!Shared) {
        waits_.drop();
      }
      g.reacquire();
      if (handed.done) {
        return XCORO_OK;  // rendezvous: a sender copied it into `out`
      }
      if (w.why != d::withdrawn::no) [[unlikely]] {
        return xcoro::c_api::withdrawn_code(w.why);
      }
    }
  }

  // Shared between a runtime's workers if made on one (detail/shared_lock.hpp); guards
  // the changing state below when it is.
  mutable xcoro::detail::object_lock lock_;
  std::size_t elem_;
  std::size_t cap_;
  std::size_t end_;       // the ring's bytes: cap_ * elem_
  std::size_t head_ = 0;  // byte offset of the oldest element
  std::size_t tail_ = 0;  // byte offset of the next free slot
  std::size_t count_ = 0;
  xcoro::executor* ex_;
  bool closed_ = false;
  xcoro::detail::wait_queue recvq_;
  xcoro::detail::wait_queue sendq_;
  std::vector<unsigned char> returned_;  // capacity 0 only; see return_value
  xcoro::c_api::wait_count waiting_;     // the waiting calls of a shared channel
  xcoro::c_api::plain_count waits_;      // those of an unshared one
};
static_assert(alignof(xcoro_chan) <= 16, "the ring follows the handle in its block");

namespace xcoro::c_api {

/// A case of select() over C channels, with the protocol of recv_case and send_case
/// (include/xcoro/channel.hpp): a receive copies straight into the case's buffer, a send
/// straight from it.
class c_case {
 public:
  explicit c_case(xcoro_case& k) noexcept
      : ch_(k.chan), value_(k.value), send_(k.op == XCORO_SEND) {}

  bool try_now() {
    if (send_) {
      if (ch_->closed_) {
        done_ = false;
        return true;
      }
      done_ = ch_->try_send_locked(value_);
      return done_;
    }
    done_ = ch_->try_recv_locked(value_);
    return done_ || ch_->closed_;
  }
  void enlist(detail::wait_entry& e) {
    if (send_) {
      e.slot = value_;
      ch_->sendq_.push_back(e);
    } else {
      handed_ = recv_slot{value_};
      e.slot = &handed_;
      ch_->recvq_.push_back(e);
    }
  }
  bool completed(const detail::wait_entry& e) {
    done_ = send_ ? e.slot == nullptr : handed_.done;
    return done_;
  }
  void pass_on() { ch_->pass_on(); }
  /// Unwinding: a value handed over but not taken goes back to the channel.
  void give_back() {
    if (!send_ && handed_.done) {
      ch_->return_value(value_);
      handed_.done = false;
    }
  }
  xcoro::executor* exec() const noexcept { return ch_->ex_; }
  detail::object_lock* lock() const noexcept { return ch_->lock_.if_shared(); }

  /// Once fired: XCORO_OK if it sent or received, XCORO_ECLOSED if it fired on a close.
  int result() const noexcept { return done_ ? XCORO_OK : XCORO_ECLOSED; }

 private:
  xcoro_chan* ch_;
  void* value_;
  bool send_;
  bool done_ = false;
  recv_slot handed_{nullptr};
};

namespace {

template <std::size_t... I>
result<std::size_t> select_fixed(std::int64_t at, c_case* cs, std::index_sequence<I...>) {
  return detail::select_until(at, cs[I]...);
}

template <std::size_t... I>
std::optional<std::size_t> try_select_fixed(c_case* cs, std::index_sequence<I...>) {
  return try_select(cs[I]...);
}

/// select_until over n cases, n in [1, XCORO_SELECT_MAX]: one instantiation per count.
result<std::size_t> select_n(std::int64_t at, c_case* cs, std::size_t n) {
  switch (n) {
    case 1: return select_fixed(at, cs, std::make_index_sequence<1>{});
    case 2: return select_fixed(at, cs, std::make_index_sequence<2>{});
    case 3: return select_fixed(at, cs, std::make_index_sequence<3>{});
    case 4: return select_fixed(at, cs, std::make_index_sequence<4>{});
    case 5: return select_fixed(at, cs, std::make_index_sequence<5>{});
    case 6: return select_fixed(at, cs, std::make_index_sequence<6>{});
    case 7: return select_fixed(at, cs, std::make_index_sequence<7>{});
    default: return select_fixed(at, cs, std::make_index_sequence<8>{});
  }
}

std::optional<std::size_t> try_select_n(c_case* cs, std::size_t n) {
  switch (n) {
    case 1: return try_select_fixed(cs, std::make_index_sequence<1>{});
    case 2: return try_select_fixed(cs, std::make_index_sequence<2>{});
    case 3: return try_select_fixed(cs, std::make_index_sequence<3>{});
    case 4: return try_select_fixed(cs, std::make_index_sequence<4>{});
    case 5: return try_select_fixed(cs, std::make_index_sequence<5>{});
    case 6: return try_select_fixed(cs, std::make_index_sequence<6>{});
    case 7: return try_select_fixed(cs, std::make_index_sequence<7>{});
    default: return try_select_fixed(cs, std::make_index_sequence<8>{});
  }
}

static_assert(XCORO_SELECT_MAX == 8, "select_n has one case per count");

/// Runs select over the C cases: `block` false is try_select. Returns the fired index or a
/// code, and writes the fired case's result (a received value is already in its buffer).
int select_cases(xcoro_case* cases, std::size_t n, bool block, std::int64_t timeout_ms) {
  if (cases == nullptr || n == 0 || n > XCORO_SELECT_MAX) {
    return XCORO_EINVAL;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const xcoro_case& k = cases[i];
    if (k.chan == nullptr || k.value == nullptr || (k.op != XCORO_SEND && k.op != XCORO_RECV)) {
      return XCORO_EINVAL;
    }
  }
  if (block && !timeout_allowed(cases[0].chan->exec(), timeout_ms)) {
    return XCORO_EINVAL;
  }
  alignas(c_case) unsigned char raw[XCORO_SELECT_MAX][sizeof(c_case)];
  c_case* cs = reinterpret_cast<c_case*>(raw);
  for (std::size_t i = 0; i < n; ++i) {
    ::new (&cs[i]) c_case(cases[i]);  // trivially destructible
  }
  std::size_t fired = 0;
  if (!block || in_root()) {
    std::optional<std::size_t> f = try_select_n(cs, n);
    if (!f) {
      return block ? XCORO_EROOT : XCORO_EAGAIN;
    }
    fired = *f;
  } else {
    // Counted on every channel for the whole call (see xcoro_chan::busy).
    struct counted {
      xcoro_chan* ch = nullptr;
      ~counted() {
        if (ch != nullptr) {
          ch->uncount_wait();
        }
      }
    } holds[XCORO_SELECT_MAX];
    for (std::size_t i = 0; i < n; ++i) {
      cases[i].chan->count_wait();
      holds[i].ch = cases[i].chan;
    }
    result<std::size_t> r = select_n(deadline_of(timeout_ms), cs, n);
    if (!r) {
      return to_c(r.error());
    }
    fired = *r;
  }
  cases[fired].result = cs[fired].result();
  return static_cast<int>(fired);
}
static_assert(std::is_trivially_destructible_v<c_case>);

/// xcoro_chan_send and xcoro_chan_send_timeout, inlined in both: a blocking call returns
/// through as few frames as possible (each return after a switch is a mispredicted one).
[[gnu::always_inline]] inline int send_impl(xcoro_chan* ch, const void* value,
                                            std::int64_t timeout_ms) noexcept {
  if (ch == nullptr || value == nullptr ||
      (timeout_ms > 0 && !timeout_allowed(ch->exec(), timeout_ms))) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_chan_send", [&]() XCORO_C_LAMBDA_INLINE {
    return ch->send(value, deadline_of(timeout_ms));
  });
}

/// xcoro_chan_recv and xcoro_chan_recv_timeout, as send_impl.
[[gnu::always_inline]] inline int recv_impl(xcoro_chan* ch, void* out,
                                            std::int64_t timeout_ms) noexcept {
  if (ch == nullptr || out == nullptr ||
      (timeout_ms > 0 && !timeout_allowed(ch->exec(), timeout_ms))) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_chan_recv", [&]() XCORO_C_LAMBDA_INLINE {
    return ch->recv(out, deadline_of(timeout_ms));
  });
}

}  // namespace
}  // namespace xcoro::c_api

using namespace xcoro;
using namespace xcoro::c_api;

extern "C" {

int xcoro_chan_create(xcoro_chan** out, size_t elem_size, size_t capacity,
                      xcoro_executor* ex) noexcept {
  if (out == nullptr || elem_size == 0 || elem_size > XCORO_CHAN_MAX_ELEM) {
    return XCORO_EINVAL;
  }
  xcoro_chan* ch = xcoro_chan::make(elem_size, capacity, reinterpret_cast<executor*>(ex));
  if (ch == nullptr) {
    return XCORO_ENOMEM;
  }
  *out = ch;
  return XCORO_OK;
}

int xcoro_chan_destroy(xcoro_chan* ch) noexcept {
  return ch != nullptr ? ch->destroy() : XCORO_OK;
}

int xcoro_chan_send(xcoro_chan* ch, const void* value) noexcept {
  return send_impl(ch, value, XCORO_FOREVER);
}

int xcoro_chan_send_timeout(xcoro_chan* ch, const void* value, int64_t timeout_ms) noexcept {
  return send_impl(ch, value, timeout_ms);
}

int xcoro_chan_try_send(xcoro_chan* ch, const void* value) noexcept {
  if (ch == nullptr || value == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_chan_try_send", [&] { return ch->try_send(value); });
}

int xcoro_chan_recv(xcoro_chan* ch, void* out) noexcept {
  return recv_impl(ch, out, XCORO_FOREVER);
}

int xcoro_chan_recv_timeout(xcoro_chan* ch, void* out, int64_t timeout_ms) noexcept {
  return recv_impl(ch, out, timeout_ms);
}

int xcoro_chan_try_recv(xcoro_chan* ch, void* out) noexcept {
  if (ch == nullptr || out == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_chan_try_recv", [&] { return ch->try_recv(out); });
}

void xcoro_chan_close(xcoro_chan* ch) noexcept {
  if (ch != nullptr) {
    guarded("xcoro_chan_close", [&] {
      ch->close();
      return XCORO_OK;
    });
  }
}

int xcoro_chan_closed(const xcoro_chan* ch) noexcept {
  if (ch == nullptr) {
    return XCORO_EINVAL;
  }
  return ch->closed() ? 1 : 0;
}

size_t xcoro_chan_size(const xcoro_chan* ch) noexcept {
  return ch != nullptr ? ch->size() : 0;
}

size_t xcoro_chan_capacity(const xcoro_chan* ch) noexcept {
  return ch != nullptr ? ch->capacity() : 0;
}

int xcoro_select(xcoro_case* cases, size_t n, int64_t timeout_ms) noexcept {
  return guarded("xcoro_select", [&] { return select_cases(cases, n, true, timeout_ms); });
}

int xcoro_try_select(xcoro_case* cases, size_t n) noexcept {
  return guarded("xcoro_try_select",
                 [&] { return select_cases(cases, n, false, XCORO_FOREVER); });
}

}  // extern "C"
