// libFuzzer target: decodes the input into operations on coroutines, generators, an
// executor and three channels (capacities 0, 1 and 4), runs them, and checks a model:
//
//   - values are conserved through channels: every value whose send succeeded is received
//     exactly once or is still buffered at the end; nothing is received twice, and nothing
//     is received that was never sent;
//   - per channel, a receiver gets one sender's values in the order they were sent;
//   - a channel never holds more than its capacity; recv returns nullopt and send fails
//     only on a closed channel; a failed try_send leaves the value in place;
//   - generators yield and return exactly the sequence their model computes, and an
//     exception thrown inside one comes out of xnext;
//   - with ASan/LSan: no crash, no use-after-free, no leak (values are heap objects);
//   - a worker destroyed by another worker (a third coroutine) unwinds, and control comes
//     back to the one that destroyed it.
//
// Each input runs to a clean end, since libFuzzer runs many inputs in one process: the
// channels are closed, the executor drained, every frame destroyed (a suspended one is
// unwound with forced_unwind), the leftovers drained out of the channels, and only then are
// the channels destroyed (destroying a channel a coroutine waits on aborts by design).
//
// Input format: a stream of opcodes (one byte each, taken modulo the number of operations)
// and their operand bytes; a missing byte reads as 0. See `op` below.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"

namespace {

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "fuzz_coro: check failed at line %d: %s\n", __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

constexpr int num_channels = 3;
constexpr std::size_t capacities[num_channels] = {0, 1, 4};
constexpr std::size_t max_workers = 6;
constexpr std::size_t max_generators = 3;
constexpr std::size_t max_script = 10;
constexpr std::size_t max_child_script = 4;

/// A value travelling through a channel: heap-allocated, so that a lost or leaked value
/// shows up in LSan and a double destroy in ASan.
using value = std::unique_ptr<std::uint64_t>;

/// Value numbers: the sender's tag in the high bits, a per-input counter below, so that one
/// sender's values increase in send order.
constexpr int tag_shift = 40;

/// Reads operand bytes; 0 past the end.
class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// What a worker or child coroutine does, one command after the other.
enum class cmd : std::uint8_t {
  send,          // channel::send
  recv,          // channel::recv
  try_send,      // channel::try_send
  try_recv,      // channel::try_recv
  close,         // channel::close
  suspend,       // xsuspend: only an explicit resume from the driver continues it
  select_recv2,  // select over recv_case on two channels
  select_mixed,  // select over a send_case and a recv_case
  spawn,         // xasync a child running its own script (workers only)
  await_child,   // xawait the oldest unfinished child (workers only)
  destroy_peer,  // destroy another worker's frame from inside this one (workers only)
  count
};

struct command {
  cmd what;
  std::uint8_t a;  // channel index (or first channel)
  std::uint8_t b;  // second channel index
};
using script = std::vector<command>;

/// A top-level coroutine of the driver, in one of max_workers slots.
struct worker {
  xcoro::frame_t<void> f;
  std::uint64_t tag = 0;
};

/// Shared state of one input: channels and the model.
struct world {
  xcoro::executor ex;
  std::optional<xcoro::channel<value>> ch[num_channels];
  std::uint64_t counter = 0;
  std::uint64_t next_tag = 1;  // 0 is the driver (root)
  std::set<std::uint64_t> offered;   // passed to a send of any kind
  std::map<std::uint64_t, int> sent_ok;  // a send reported success: value -> channel
  std::set<std::uint64_t> received;  // came out of a channel
  bool closed[num_channels] = {};
  // Coroutines destroyed while suspended. Each may have been handed a rendezvous value,
  // which the channel then keeps for the next receiver (possibly after later values).
  std::size_t destroyed_suspended = 0;
  // (receiver tag, channel, sender tag) -> last value received: order per sender.
  std::map<std::tuple<std::uint64_t, int, std::uint64_t>, std::uint64_t> last_seen;
  // The driver's worker slots, for destroy_peer.
  std::vector<worker>* workers = nullptr;

  value make_value(std::uint64_t sender) {
    std::uint64_t v = (sender << tag_shift) | ++counter;
    offered.insert(v);
    return std::make_unique<std::uint64_t>(v);
  }

  void got(std::uint64_t receiver, int c, value& v) {
    FUZZ_CHECK(v != nullptr);
    std::uint64_t n = *v;
    FUZZ_CHECK(offered.count(n) == 1);     // never sent: corruption
    FUZZ_CHECK(received.insert(n).second);  // received twice
    auto key = std::make_tuple(receiver, c, n >> tag_shift);
    auto it = last_seen.find(key);
    if (it != last_seen.end()) {
      // One sender's values in order; on a rendezvous channel a value given back by an
      // unwound receiver may come after later ones.
      FUZZ_CHECK(it->second < n || (ch[c]->capacity() == 0 && destroyed_suspended > 0));
      it->second = n;
    } else {
      last_seen.emplace(key, n);
    }
  }

  void check_channel(int c) {
    // A rendezvous channel holds only values given back by unwound receivers.
    FUZZ_CHECK(ch[c]->capacity() == 0 ? ch[c]->size() <= destroyed_suspended
                                      : ch[c]->size() <= ch[c]->capacity());
    FUZZ_CHECK(ch[c]->closed() == closed[c]);
  }

  void close(int c) {
    ch[c]->close();
    closed[c] = true;
  }
};

world* w = nullptr;

/// Destroys a frame, counting it if it was suspended.
template <class Frame>
void destroy(Frame& f) {
  if (f.status() == xcoro::status::suspended) {
    ++w->destroyed_suspended;
  }
  f = Frame{};
}

/// A worker's children, destroyed (unwound if suspended) when the worker ends or is
/// itself unwound.
struct children_t {
  std::vector<xcoro::frame_t<void>> v;
  children_t() = default;
  children_t(const children_t&) = delete;
  children_t& operator=(const children_t&) = delete;
  ~children_t() {
    for (auto& f : v) {
      destroy(f);
    }
  }
};

int chan(std::uint8_t b) {
  return b % num_channels;
}

/// Runs one command in a coroutine with tag `self`. `children` is null in a child.
void run_command(std::uint64_t self, const command& c, children_t* children);

void run_script(std::uint64_t self, const script& s) {
  children_t children;
  for (const command& c : s) {
    run_command(self, c, &children);
  }
}

void run_child(std::uint64_t self, const script& s) {
  for (const command& c : s) {
    run_command(self, c, nullptr);
  }
}

void run_command(std::uint64_t self, const command& c, children_t* children) {
  int k = chan(c.a);
  switch (c.what) {
    case cmd::send: {
      value v = w->make_value(self);
      std::uint64_t n = *v;
      xcoro::result<void> r = w->ch[k]->send(std::move(v));
      if (r) {
        w->sent_ok.emplace(n, k);
      } else {
        FUZZ_CHECK(r.error() == xcoro::errc::channel_closed);
        FUZZ_CHECK(w->closed[k]);
      }
      break;
    }
    case cmd::recv: {
      std::optional<value> v = w->ch[k]->recv();
      if (v) {
        w->got(self, k, *v);
      } else {
        FUZZ_CHECK(w->closed[k]);
        FUZZ_CHECK(w->ch[k]->size() == 0);
      }
      break;
    }
    case cmd::try_send: {
      value v = w->make_value(self);
      std::uint64_t n = *v;
      if (w->ch[k]->try_send(v)) {
        w->sent_ok.emplace(n, k);
      } else {
        FUZZ_CHECK(v != nullptr && *v == n);  // left in place
      }
      break;
    }
    case cmd::try_recv: {
      if (std::optional<value> v = w->ch[k]->try_recv()) {
        w->got(self, k, *v);
      }
      break;
    }
    case cmd::close:
      w->close(k);
      break;
    case cmd::suspend:
      xcoro::xsuspend();
      break;
    case cmd::select_recv2: {
      int k2 = chan(c.b);
      if (k2 == k) {
        k2 = (k + 1) % num_channels;
      }
      std::optional<value> o1, o2;
      xcoro::result<std::size_t> r = xcoro::select(xcoro::recv_case(*w->ch[k], o1),
                                                   xcoro::recv_case(*w->ch[k2], o2));
      FUZZ_CHECK(r.has_value());  // nothing here cancels
      std::size_t i = *r;
      FUZZ_CHECK(i < 2);
      std::optional<value>& o = i == 0 ? o1 : o2;
      int kk = i == 0 ? k : k2;
      FUZZ_CHECK(!(i == 0 ? o2 : o1).has_value());  // only the fired case takes a value
      if (o) {
        w->got(self, kk, *o);
      } else {
        FUZZ_CHECK(w->closed[kk]);
      }
      break;
    }
    case cmd::select_mixed: {
      int k2 = chan(c.b);
      if (k2 == k) {
        k2 = (k + 1) % num_channels;
      }
      value v = w->make_value(self);
      std::uint64_t n = *v;
      std::optional<value> o;
      xcoro::result<std::size_t> r = xcoro::select(xcoro::send_case(*w->ch[k], v),
                                                   xcoro::recv_case(*w->ch[k2], o));
      FUZZ_CHECK(r.has_value());
      std::size_t i = *r;
      FUZZ_CHECK(i < 2);
      if (i == 0) {
        FUZZ_CHECK(!o.has_value());
        if (v == nullptr) {
          w->sent_ok.emplace(n, k);
        } else {
          FUZZ_CHECK(*v == n);
          FUZZ_CHECK(w->closed[k]);
        }
      } else {
        FUZZ_CHECK(v != nullptr && *v == n);  // the send case did not fire
        if (o) {
          w->got(self, k2, *o);
        } else {
          FUZZ_CHECK(w->closed[k2]);
        }
      }
      break;
    }
    case cmd::spawn: {
      if (children == nullptr) {
        break;
      }
      script s;
      std::size_t len = c.b % (max_child_script + 1);
      for (std::size_t j = 0; j < len; ++j) {
        // Children get channel commands and suspends only, derived from the operands.
        auto what = static_cast<cmd>((c.a + 3 * j + c.b) % static_cast<int>(cmd::spawn));
        s.push_back({what, static_cast<std::uint8_t>(c.a + j),
                     static_cast<std::uint8_t>(c.b + 2 * j)});
      }
      std::uint64_t tag = w->next_tag++;
      auto f = xcoro::xasync(run_child, tag, std::move(s));
      FUZZ_CHECK(f.has_value());
      children->v.push_back(std::move(*f));
      break;
    }
    case cmd::await_child: {
      if (children == nullptr) {
        break;
      }
      for (auto& f : children->v) {
        if (f.status() != xcoro::status::done) {
          xcoro::xawait(f);
          FUZZ_CHECK(f.status() == xcoro::status::done);
          break;
        }
      }
      break;
    }
    case cmd::destroy_peer: {
      // A third coroutine (neither the driver that started the peer nor the peer) tears it
      // down: the peer unwinds from inside this command, wherever it waits, and control
      // must come back here. Workers are only ever resumed by the driver, so the peer is
      // never one this worker is running on top of.
      if (children == nullptr) {
        break;
      }
      worker& peer = (*w->workers)[c.a % max_workers];
      if (peer.tag != self) {
        destroy(peer.f);
        FUZZ_CHECK(peer.f.status() == xcoro::status::done);
      }
      break;
    }
    case cmd::count:
      break;
  }
}

/// A generator and its model: yields start, then acc = acc * 3 + injected, n times in
/// all; returns acc ^ 0x55; throws instead of yielding at step throw_at (if < n).
struct generator {
  using frame = xcoro::frame_t<std::uint32_t, std::uint32_t, std::uint32_t>;
  frame f;
  std::uint32_t acc = 0;
  std::uint32_t n = 0;
  std::uint32_t step = 0;  // yields taken so far
  std::uint32_t throw_at = 0;
  bool started = false;
  bool finished = false;

  static std::uint32_t body(std::uint32_t start, std::uint32_t n, std::uint32_t throw_at) {
    std::uint32_t acc = start;
    for (std::uint32_t i = 0; i < n; ++i) {
      if (i == throw_at) {
        throw std::runtime_error("generator threw");
      }
      std::uint32_t injected = frame::xyield(acc);
      acc = acc * 3 + injected;
    }
    return acc ^ 0x55;
  }
};

/// Resumes a generator one step and checks the value against the model.
void step_generator(generator& g, std::uint32_t inject) {
  if (g.finished) {
    return;
  }
  try {
    if (!g.started) {
      g.started = true;
      std::uint32_t y = g.f.xnext_start();
      FUZZ_CHECK(g.throw_at != 0);
      FUZZ_CHECK(y == g.acc);
      g.step = 1;
      return;
    }
    if (g.step < g.n) {
      std::uint32_t y = g.f.xnext(inject);
      g.acc = g.acc * 3 + inject;
      FUZZ_CHECK(g.step != g.throw_at);
      FUZZ_CHECK(y == g.acc);
      ++g.step;
      return;
    }
    std::uint32_t r = g.f.xnext_end(inject);
    g.acc = g.acc * 3 + inject;
    FUZZ_CHECK(r == (g.acc ^ 0x55));
    g.finished = true;
  } catch (const std::runtime_error&) {
    FUZZ_CHECK(g.step == g.throw_at);
    FUZZ_CHECK(g.f.status() == xcoro::status::done);
    g.finished = true;
  }
}

enum class op : std::uint8_t {
  create_worker,   // operands: script length, then 3 bytes per command
  resume_worker,   // operand: worker slot
  destroy_worker,  // operand: worker slot
  tick,            // executor tick
  root_try_send,   // operand: channel
  root_try_recv,   // operand: channel
  close,           // operand: channel
  create_gen,      // operands: slot, start, n, throw_at
  step_gen,        // operands: slot, injected value
  destroy_gen,     // operand: slot
  drain,           // tick until the executor is empty
  count
};

void run_input(reader& in) {
  world wd;
  w = &wd;
  xcoro::env saved = xcoro::get_env();
  xcoro::get_env().executor = &wd.ex;
  for (int i = 0; i < num_channels; ++i) {
    wd.ch[i].emplace(xcoro::channel_options{.capacity = capacities[i], .executor = &wd.ex});
  }
  std::vector<worker> workers(max_workers);
  wd.workers = &workers;
  std::vector<generator> gens(max_generators);

  for (int steps = 0; !in.done() && steps < 4096; ++steps) {
    auto o = static_cast<op>(in.byte() % static_cast<int>(op::count));
    switch (o) {
      case op::create_worker: {
        std::size_t slot = in.byte() % max_workers;
        std::size_t len = in.byte() % (max_script + 1);
        script s;
        for (std::size_t j = 0; j < len; ++j) {
          auto what = static_cast<cmd>(in.byte() % static_cast<int>(cmd::count));
          std::uint8_t a = in.byte();
          std::uint8_t b = in.byte();
          s.push_back({what, a, b});
        }
        worker& wk = workers[slot];
        destroy(wk.f);  // unwinds the previous one
        wk.tag = wd.next_tag++;
        auto f = xcoro::frame_t<void>::init({}, run_script, wk.tag, std::move(s));
        FUZZ_CHECK(f.has_value());
        wk.f = std::move(*f);
        break;
      }
      case op::resume_worker: {
        worker& wk = workers[in.byte() % max_workers];
        xcoro::status st = wk.f.status();
        if (st == xcoro::status::start || st == xcoro::status::suspended) {
          // A worker waiting on a channel treats this as a spurious wake-up.
          xcoro::xresume(wk.f);
        }
        break;
      }
      case op::destroy_worker:
        destroy(workers[in.byte() % max_workers].f);
        break;
      case op::tick:
        wd.ex.tick();
        break;
      case op::root_try_send: {
        int k = chan(in.byte());
        value v = wd.make_value(0);
        std::uint64_t n = *v;
        if (wd.ch[k]->try_send(v)) {
          wd.sent_ok.emplace(n, k);
        } else {
          FUZZ_CHECK(v != nullptr && *v == n);
        }
        break;
      }
      case op::root_try_recv: {
        int k = chan(in.byte());
        if (std::optional<value> v = wd.ch[k]->try_recv()) {
          wd.got(0, k, *v);
        }
        break;
      }
      case op::close:
        wd.close(chan(in.byte()));
        break;
      case op::create_gen: {
        generator& g = gens[in.byte() % max_generators];
        std::uint32_t start = in.byte();
        std::uint32_t n = 1 + in.byte() % 8;
        std::uint32_t throw_at = in.byte() % 16;  // >= n: never throws
        g = generator{};
        g.acc = start;
        g.n = n;
        g.throw_at = throw_at;
        auto f = generator::frame::init({}, &generator::body, start, n, throw_at);
        FUZZ_CHECK(f.has_value());
        g.f = std::move(*f);
        break;
      }
      case op::step_gen: {
        generator& g = gens[in.byte() % max_generators];
        std::uint32_t inject = in.byte();
        if (g.f.frame() != nullptr) {
          step_generator(g, inject);
        }
        break;
      }
      case op::destroy_gen:
        gens[in.byte() % max_generators] = generator{};
        break;
      case op::drain:
        for (int i = 0; i < 1000 && wd.ex.tick(); ++i) {
        }
        break;
      case op::count:
        break;
    }
    for (int k = 0; k < num_channels; ++k) {
      wd.check_channel(k);
    }
  }

  // Clean end: close everything, let the coroutines run out (resuming the ones parked in
  // a plain xsuspend), then destroy what is left.
  for (int k = 0; k < num_channels; ++k) {
    wd.close(k);
  }
  for (int round = 0; round < 64; ++round) {
    for (int i = 0; i < 1000 && wd.ex.tick(); ++i) {
    }
    bool any = false;
    for (worker& wk : workers) {
      if (wk.f.status() == xcoro::status::start || wk.f.status() == xcoro::status::suspended) {
        xcoro::xresume(wk.f);
        any = true;
      }
    }
    if (!any && wd.ex.empty()) {
      break;
    }
  }
  for (worker& wk : workers) {
    destroy(wk.f);
  }
  workers.clear();
  gens.clear();
  FUZZ_CHECK(wd.ex.empty());

  // Conservation: what is still buffered counts as delivered.
  std::set<std::uint64_t> buffered;
  for (int k = 0; k < num_channels; ++k) {
    while (std::optional<value> v = wd.ch[k]->try_recv()) {
      FUZZ_CHECK(*v != nullptr);
      FUZZ_CHECK(wd.offered.count(**v) == 1);
      FUZZ_CHECK(wd.received.count(**v) == 0);
      FUZZ_CHECK(buffered.insert(**v).second);
    }
    FUZZ_CHECK(wd.ch[k]->size() == 0);
  }
  for (auto [n, k] : wd.sent_ok) {
    if (wd.received.count(n) + buffered.count(n) != 1) {
      std::fprintf(stderr, "fuzz_coro: value %#llx sent on channel %d (capacity %zu) was %s\n",
                   static_cast<unsigned long long>(n), k, capacities[k],
                   wd.received.count(n) + buffered.count(n) == 0 ? "lost" : "duplicated");
      FUZZ_CHECK(false);
    }
  }
  for (int k = 0; k < num_channels; ++k) {
    wd.ch[k].reset();
  }
  FUZZ_CHECK(!xcoro::in_coro());
  xcoro::init_env(saved);
  w = nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in(data, size);
  run_input(in);
  return 0;
}
