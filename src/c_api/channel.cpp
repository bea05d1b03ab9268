// The C API's channels and select: a channel<blob> whose elements are copies of the
// caller's bytes, and select over up to XCORO_SELECT_MAX such channels chosen at run time.
#include <cstring>
#include <optional>
#include <utility>

#include "c_api/c_api.hpp"
#include "c_api/wait_count.hpp"
#include "xcoro/channel.hpp"

namespace xcoro::c_api {
namespace {

/// One element: elem_size bytes, inline up to inline_size, else in a block of its own.
/// A moved-from blob is empty (size 0), which is how a send case tells that it fired.
class blob {
 public:
  static constexpr std::size_t inline_size = 40;

  blob() noexcept = default;
  blob(const void* p, std::size_t n) : size_(n) {
    if (n > inline_size) {
      big_ = new unsigned char[n];
    }
    std::memcpy(data(), p, n);
  }
  blob(blob&& o) noexcept : size_(std::exchange(o.size_, 0)) {
    if (size_ > inline_size) {
      big_ = o.big_;
    } else {
      // The whole inline buffer: a copy of constant size is a few register moves, where
      // one of size_ bytes is a call (a value moves four times on its way through).
      std::memcpy(small_, o.small_, inline_size);
    }
  }
  blob& operator=(blob&& o) noexcept {
    if (this != &o) {
      this->~blob();
      ::new (this) blob(std::move(o));
    }
    return *this;
  }
  blob(const blob&) = delete;
  blob& operator=(const blob&) = delete;
  ~blob() {
    if (size_ > inline_size) {
      delete[] big_;
    }
  }

  bool empty() const noexcept { return size_ == 0; }
  void copy_to(void* out) const noexcept { std::memcpy(out, data(), size_); }

 private:
  unsigned char* data() noexcept { return size_ > inline_size ? big_ : small_; }
  const unsigned char* data() const noexcept { return size_ > inline_size ? big_ : small_; }

  std::size_t size_ = 0;
  union {
    unsigned char small_[inline_size];
    unsigned char* big_;
  };
};
static_assert(sizeof(blob) == 48, "docs/c-api.md: elements up to 40 bytes are inline");

}  // namespace
}  // namespace xcoro::c_api

/// The C handle.
struct xcoro_chan {
  XCORO_C_ALLOCATED
  xcoro_chan(std::size_t elem, std::size_t capacity, xcoro::executor* ex)
      : ch(xcoro::channel_options{.capacity = capacity, .executor = ex}),
        elem_size(elem),
        exec(xcoro::detail::default_executor(ex)) {}

  xcoro::channel<xcoro::c_api::blob> ch;
  std::size_t elem_size;
  xcoro::executor* exec;
  xcoro::c_api::wait_count waiting;
};

namespace xcoro::c_api {
namespace {

/// A case of select() over a C channel: the recv_case or send_case it stands for.
class c_case {
 public:
  c_case(xcoro_chan& ch, std::optional<blob>& out) : recv_(std::in_place, ch.ch, out) {}
  c_case(xcoro_chan& ch, blob& value) : send_(std::in_place, ch.ch, value) {}

  bool try_now() { return recv_ ? recv_->try_now() : send_->try_now(); }
  void enlist(detail::wait_entry& e) { recv_ ? recv_->enlist(e) : send_->enlist(e); }
  bool completed(const detail::wait_entry& e) {
    return recv_ ? recv_->completed(e) : send_->completed(e);
  }
  void pass_on() { recv_ ? recv_->pass_on() : send_->pass_on(); }
  void give_back() { recv_ ? recv_->give_back() : send_->give_back(); }
  xcoro::executor* exec() const noexcept { return recv_ ? recv_->exec() : send_->exec(); }
  std::mutex* lock() const noexcept { return recv_ ? recv_->lock() : send_->lock(); }

 private:
  std::optional<recv_case<blob>> recv_;
  std::optional<send_case<blob>> send_;
};

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
/// code, and writes the fired case's result and received value.
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
  if (block && !timeout_allowed(cases[0].chan->exec, timeout_ms)) {
    return XCORO_EINVAL;
  }
  // The cases' buffers: what each send case sends, where each receive case receives.
  std::optional<blob> got[XCORO_SELECT_MAX];
  blob out[XCORO_SELECT_MAX];
  alignas(c_case) unsigned char raw[XCORO_SELECT_MAX][sizeof(c_case)];
  c_case* cs = reinterpret_cast<c_case*>(raw);
  std::size_t made = 0;
  struct destroy_made {
    c_case* cs;
    std::size_t& n;
    ~destroy_made() {
      while (n > 0) {
        cs[--n].~c_case();
      }
    }
  } cleanup{cs, made};
  for (; made < n; ++made) {
    xcoro_case& k = cases[made];
    if (k.op == XCORO_SEND) {
      out[made] = blob(k.value, k.chan->elem_size);
      ::new (&cs[made]) c_case(*k.chan, out[made]);
    } else {
      ::new (&cs[made]) c_case(*k.chan, got[made]);
    }
  }
  std::size_t fired = 0;
  if (!block || in_root()) {
    std::optional<std::size_t> f = try_select_n(cs, n);
    if (!f) {
      return block ? XCORO_EROOT : XCORO_EAGAIN;
    }
    fired = *f;
  } else {
    std::optional<wait_count::hold> holds[XCORO_SELECT_MAX];
    for (std::size_t i = 0; i < n; ++i) {
      holds[i].emplace(cases[i].chan->waiting);
    }
    std::int64_t at = timeout_ms < 0 ? detail::no_deadline
                                     : detail::deadline_after(std::chrono::milliseconds(timeout_ms));
    result<std::size_t> r = select_n(at, cs, n);
    if (!r) {
      return to_c(r.error());
    }
    fired = *r;
  }
  xcoro_case& k = cases[fired];
  if (k.op == XCORO_SEND) {
    k.result = out[fired].empty() ? XCORO_OK : XCORO_ECLOSED;
  } else if (got[fired]) {
    got[fired]->copy_to(k.value);
    k.result = XCORO_OK;
  } else {
    k.result = XCORO_ECLOSED;
  }
  return static_cast<int>(fired);
}

/// recv's nullopt: the coroutine was cancelled, else the channel is closed and drained.
int why_empty() noexcept {
  return detail::cancel_pending_here() ? XCORO_ECANCELED : XCORO_ECLOSED;
}

/// xcoro_chan_send and xcoro_chan_send_timeout, inlined in both: a blocking call returns
/// through as few frames as possible (each return after a switch is a mispredicted one).
[[gnu::always_inline]] inline int send_impl(xcoro_chan* ch, const void* value,
                                            std::int64_t timeout_ms) noexcept {
  if (ch == nullptr || value == nullptr || !timeout_allowed(ch->exec, timeout_ms)) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_chan_send", [&]() XCORO_C_LAMBDA_INLINE {
    blob b(value, ch->elem_size);
    // What completes without a wait is done here, uncounted: the count's two atomic
    // operations cost more than the rest of an uncontended send. A cancelled coroutine
    // sends nothing, as in C++.
    if (detail::cancel_pending_here()) {
      return XCORO_ECANCELED;
    }
    if (ch->ch.try_send(b)) {
      return XCORO_OK;
    }
    if (in_root()) {
      // C++ aborts when a send from root would have to wait; C reports.
      return ch->ch.closed() ? XCORO_ECLOSED : XCORO_EROOT;
    }
    wait_count::hold h(ch->waiting);
    result<void> r = timeout_ms < 0 ? ch->ch.send(std::move(b))
                                    : ch->ch.send(std::move(b), std::chrono::milliseconds(timeout_ms));
    return r ? XCORO_OK : to_c(r.error());
  });
}

/// xcoro_chan_recv and xcoro_chan_recv_timeout, as send_impl.
[[gnu::always_inline]] inline int recv_impl(xcoro_chan* ch, void* out,
                                            std::int64_t timeout_ms) noexcept {
  if (ch == nullptr || out == nullptr || !timeout_allowed(ch->exec, timeout_ms)) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_chan_recv", [&]() XCORO_C_LAMBDA_INLINE {
    // Uncounted when no wait is needed, as in send.
    if (detail::cancel_pending_here()) {
      return XCORO_ECANCELED;
    }
    if (std::optional<blob> v = ch->ch.try_recv()) {
      v->copy_to(out);
      return XCORO_OK;
    }
    if (in_root()) {
      return ch->ch.closed() ? XCORO_ECLOSED : XCORO_EROOT;
    }
    wait_count::hold h(ch->waiting);
    if (timeout_ms < 0) {
      std::optional<blob> v = ch->ch.recv();
      if (!v) {
        return why_empty();
      }
      v->copy_to(out);
      return XCORO_OK;
    }
    result<blob> v = ch->ch.recv(std::chrono::milliseconds(timeout_ms));
    if (!v) {
      return to_c(v.error());
    }
    v->copy_to(out);
    return XCORO_OK;
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
  return new_handle(out, "xcoro_chan_create", elem_size, capacity,
                    reinterpret_cast<executor*>(ex));
}

int xcoro_chan_destroy(xcoro_chan* ch) noexcept {
  return delete_unless_waited(ch);
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
  return guarded("xcoro_chan_try_send", [&] {
    blob b(value, ch->elem_size);
    if (ch->ch.try_send(b)) {
      return XCORO_OK;
    }
    return ch->ch.closed() ? XCORO_ECLOSED : XCORO_EAGAIN;
  });
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
  return guarded("xcoro_chan_try_recv", [&] {
    std::optional<blob> v = ch->ch.try_recv();
    if (!v) {
      return ch->ch.closed() ? XCORO_ECLOSED : XCORO_EAGAIN;
    }
    v->copy_to(out);
    return XCORO_OK;
  });
}

void xcoro_chan_close(xcoro_chan* ch) noexcept {
  if (ch != nullptr) {
    guarded("xcoro_chan_close", [&] {
      ch->ch.close();
      return XCORO_OK;
    });
  }
}

int xcoro_chan_closed(const xcoro_chan* ch) noexcept {
  if (ch == nullptr) {
    return XCORO_EINVAL;
  }
  return ch->ch.closed() ? 1 : 0;
}

size_t xcoro_chan_size(const xcoro_chan* ch) noexcept {
  return ch != nullptr ? ch->ch.size() : 0;
}

size_t xcoro_chan_capacity(const xcoro_chan* ch) noexcept {
  return ch != nullptr ? ch->ch.capacity() : 0;
}

int xcoro_select(xcoro_case* cases, size_t n, int64_t timeout_ms) noexcept {
  return guarded("xcoro_select", [&] { return select_cases(cases, n, true, timeout_ms); });
}

int xcoro_try_select(xcoro_case* cases, size_t n) noexcept {
  return guarded("xcoro_try_select",
                 [&] { return select_cases(cases, n, false, XCORO_FOREVER); });
}

}  // extern "C"
