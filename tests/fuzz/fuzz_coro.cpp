// libFuzzer target: decodes the input into operations on coroutines, generators, an
// executor and three channels (capacities 0, 1 and 4), runs them, and checks a model:
//
//   - values are conserved through channels: every value whose send succeeded is received
//     exactly once or is still buffered at the end; nothing is received twice, nothing is
//     received that was never sent or whose send failed, and every value is destroyed
//     exactly once (values are heap objects whose deleter records them);
//   - per channel, a receiver gets one sender's values in the order they were sent;
//   - a channel never holds more than its capacity; recv returns nullopt and send fails
//     only on a closed channel or in a cancelled coroutine; a failed try_send leaves the
//     value in place, and a failed send has destroyed its value before it returns;
//   - cancellation (xcoro::cancel from the driver, from a worker on another worker or on a
//     child, cancel_shield): a model of which coroutine is cancelled (it flows down to the
//     children, stops at a shield, resumes when the last shield ends, and a child started
//     by a cancelled coroutine is born cancelled) must agree with cancel()'s result and with
//     cancel_requested(); once a cancel is pending, every blocking call (send, recv,
//     select) returns errc::canceled at once and performs nothing; inside a shield none
//     does; a call that returns canceled delivered and consumed nothing; cancel() and the
//     end of a shield resume nobody; after the executor is drained, no coroutine with a
//     pending cancel is still waiting in a channel or select; a plain xsuspend is continued
//     only by the driver or by a child returning to it, never by a cancel;
//   - task_group (one per worker): size() counts the unfinished children of the model;
//     wait() returns only when all have finished, with the first failure (a rethrown
//     exception or an error), else canceled if the group or the waiting worker was
//     cancelled, else success; a failing child cancels its siblings; children spawned into
//     a stopped group are born cancelled; after the group's destructor all have finished;
//   - generators yield and return exactly the sequence their model computes, and an
//     exception thrown inside one comes out of xnext;
//   - with ASan/LSan: no crash, no use-after-free, no leak;
//   - a worker destroyed by another worker (a third coroutine) unwinds, and control comes
//     back to the one that destroyed it.
//
// Each input runs to a clean end, since libFuzzer runs many inputs in one process: the
// channels are closed, the executor drained, every frame destroyed (a suspended one is
// unwound with forced_unwind), the leftovers drained out of the channels, and only then are
// the channels destroyed (destroying a channel a coroutine waits on aborts by design).
//
// Input format: a stream of opcodes (one byte each, taken modulo the number of operations)
// and their operand bytes; a missing byte reads as 0. See `op` below. New operations and
// commands are appended before `count`, so that older inputs keep their meaning as long as
// their opcode bytes are below the old counts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/scope.hpp"

namespace {

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "fuzz_coro: check failed at line %d: %s\n", __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

/// FUZZ_CORO_TRACE=1 in the environment prints every driver operation and every command
/// with its outcome on stderr, for reading a reproducer.
const bool tracing = std::getenv("FUZZ_CORO_TRACE") != nullptr;
#define FUZZ_TRACE(...)                  \
  do {                                   \
    if (tracing) {                       \
      std::fprintf(stderr, __VA_ARGS__); \
    }                                    \
  } while (0)

constexpr int num_channels = 3;
constexpr std::size_t capacities[num_channels] = {0, 1, 4};
constexpr std::size_t max_workers = 6;
constexpr std::size_t max_generators = 3;
constexpr std::size_t max_script = 10;
constexpr std::size_t max_child_script = 4;
constexpr int max_shield_depth = 3;

/// Frees a value and records it in the model, so that a value destroyed twice, or
/// destroyed by a send that reported success, is caught.
struct value_deleter {
  void operator()(std::uint64_t* p) const noexcept;
};

/// A value travelling through a channel: heap-allocated, so that a lost or leaked value
/// shows up in LSan and a double destroy in ASan.
using value = std::unique_ptr<std::uint64_t, value_deleter>;

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
  send,            // channel::send
  recv,            // channel::recv
  try_send,        // channel::try_send
  try_recv,        // channel::try_recv
  close,           // channel::close
  suspend,         // xsuspend: only the driver, or a child returning to it, continues it
  select_recv2,    // select over recv_case on two channels
  select_mixed,    // select over a send_case and a recv_case
  spawn,           // xasync a child running its own script (workers only)
  await_child,     // xawait the oldest unfinished child (workers only)
  destroy_peer,    // destroy another worker's frame from inside this one (workers only)
  cancel_peer,     // xcoro::cancel worker a's frame (b % 4 == 0, or it has no children) or
                   // its child (b - 1) % children; itself or its own child if a names it
  cancel_child,    // xcoro::cancel this worker's child a % children (workers only)
  shield_begin,    // open a cancel_shield for the next 1 + a % 5 commands, nested up to
                   // three deep (workers only)
  shield_end,      // end the innermost open shield now (workers only)
  spawn_in_group,  // task_group::spawn a child (script as spawn); it returns an error if
                   // a / 64 == 1, throws if a / 64 == 2 (workers only)
  group_wait,      // task_group::wait (workers only)
  group_cancel,    // task_group::cancel (workers only)
  count
};

constexpr const char* cmd_names[] = {
    "send",         "recv",         "try_send",   "try_recv",       "close",        "suspend",
    "select_recv2", "select_mixed", "spawn",      "await_child",    "destroy_peer", "cancel_peer",
    "cancel_child", "shield_begin", "shield_end", "spawn_in_group", "group_wait",   "group_cancel"};
static_assert(std::size(cmd_names) == static_cast<std::size_t>(cmd::count));

/// For the trace: how a blocking call ended.
const char* outcome(std::error_code ec) {
  if (!ec) {
    return "ok";
  }
  return ec == xcoro::errc::canceled ? "canceled" : "closed";
}

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

struct children_t;

/// The model of a worker's task_group: its children, and what wait() must report.
struct group_model {
  enum class failure { none, error, exception };
  std::vector<std::uint64_t> kids;
  bool cancelled = false;         // task_group::cancel() was called
  failure first = failure::none;  // how the first child that failed failed
  /// Whether a child spawned now is born cancelled.
  bool stopping() const { return cancelled || first != failure::none; }
};

/// The model of one worker or child coroutine, by tag: what cancellation state the library
/// must report for it.
struct node {
  std::uint64_t parent = 0;         // 0: started by the driver
  std::vector<std::uint64_t> kids;  // coroutines it started, in order
  children_t* children = nullptr;   // a worker's child frames, while its script runs
  group_model* group = nullptr;     // the task_group of a group child
  int shields = 0;                  // cancel_shields alive in it
  bool cancelled = false;           // a cancel reached it
  bool finished = false;            // its body has returned or been unwound
  bool blocked = false;             // suspended in send, recv or select
  bool may_wake = false;            // the driver resumed it, or a child returned to it
  /// Whether its blocking calls must return canceled now.
  bool pending() const { return cancelled && shields == 0; }
};

/// Shared state of one input: channels and the model.
struct world {
  xcoro::executor ex;
  std::optional<xcoro::channel<value>> ch[num_channels];
  std::uint64_t counter = 0;
  std::uint64_t next_tag = 1;            // 0 is the driver (root)
  std::set<std::uint64_t> offered;       // passed to a send of any kind
  std::map<std::uint64_t, int> sent_ok;  // a send reported success: value -> channel
  std::set<std::uint64_t> refused;       // a send reported an error: never delivered
  std::set<std::uint64_t> received;      // came out of a channel
  std::set<std::uint64_t> destroyed;     // freed (value_deleter)
  bool closed[num_channels] = {};
  // Coroutines unwound while suspended (by their frame_t or by their task_group). Each may
  // have been handed a rendezvous value, which the channel then keeps for the next
  // receiver (possibly after later values).
  std::size_t destroyed_suspended = 0;
  // (receiver tag, channel, sender tag) -> last value received: order per sender.
  std::map<std::tuple<std::uint64_t, int, std::uint64_t>, std::uint64_t> last_seen;
  // The driver's worker slots, for destroy_peer and cancel_peer.
  std::vector<worker>* workers = nullptr;
  // The cancellation model of every coroutine of this input, by tag.
  std::map<std::uint64_t, node> nodes;
  // Set while cancel() or ~cancel_shield runs: nothing may resume meanwhile.
  bool in_cancel = false;

  value make_value(std::uint64_t sender) {
    std::uint64_t v = (sender << tag_shift) | ++counter;
    offered.insert(v);
    return value(new std::uint64_t(v));
  }

  void got(std::uint64_t receiver, int c, value& v) {
    FUZZ_CHECK(v != nullptr);
    std::uint64_t n = *v;
    FUZZ_CHECK(offered.count(n) == 1);  // never sent: corruption
    FUZZ_CHECK(refused.count(n) == 0);  // its send failed, yet it arrived
    FUZZ_CHECK(destroyed.count(n) == 0);
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

  /// A send of value `n` reported an error: the value must be gone with the call (the
  /// channel took no copy of it) and must never be received.
  void refuse(std::uint64_t n) {
    FUZZ_CHECK(received.count(n) == 0);
    FUZZ_CHECK(refused.insert(n).second);
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

  /// Creates the model of a coroutine started by `parent` (0: the driver), spawned into
  /// `group` unless that is null.
  node& add_node(std::uint64_t tag, std::uint64_t parent, group_model* group = nullptr) {
    node& n = nodes[tag];
    n.parent = parent;
    if (parent != 0) {
      node& p = nodes.at(parent);
      p.kids.push_back(tag);
      n.cancelled = p.pending();  // born cancelled
    }
    if (group != nullptr) {
      n.group = group;
      group->kids.push_back(tag);
      n.cancelled = n.cancelled || group->stopping();
    }
    return n;
  }

  /// The model of task_group::cancel, of a failing child's siblings being cancelled
  /// (`except`: the failing child), and of the group's destructor.
  void stop_group(group_model& g, std::uint64_t except) {
    for (std::uint64_t k : g.kids) {
      node& kn = nodes.at(k);
      if (k != except && !kn.finished) {
        flow(kn);
      }
    }
  }

  /// The model of a cancel reaching `n`: it is marked, and unless a shield holds it back
  /// the cancel goes on to its unfinished children.
  void flow(node& n) {
    n.cancelled = true;
    if (n.shields == 0) {
      flow_to_kids(n);
    }
  }
  void flow_to_kids(node& n) {
    for (std::uint64_t k : n.kids) {
      node& kn = nodes.at(k);
      if (!kn.finished) {
        flow(kn);
      }
    }
  }

  /// xcoro::cancel(f) on the coroutine `tag` (f null: an empty slot), checked against the
  /// model: true only for an unfinished, not yet cancelled coroutine. It must resume
  /// nobody.
  void cancel(xcoro::frame f, std::uint64_t tag) {
    bool expect = false;
    if (f != nullptr) {
      node& n = nodes.at(tag);
      expect = !n.finished && !n.cancelled;
      if (expect) {
        flow(n);
      }
    }
    FUZZ_CHECK(!in_cancel);
    in_cancel = true;
    bool r = xcoro::cancel(f);
    in_cancel = false;
    FUZZ_TRACE("  cancel(%llu) -> %d\n", static_cast<unsigned long long>(tag), r);
    FUZZ_CHECK(r == expect);
  }

  /// The driver's or a worker's cancel of worker slot `slot` (which % 4 == 0, or no
  /// children) or of one of its children.
  void cancel_in_slot(std::uint8_t slot, std::uint8_t which);

  /// After the executor ran dry: a coroutine with a pending cancel that still waits in a
  /// cancellable call was never woken.
  void check_no_stuck_cancel() const {
    for (const auto& [tag, n] : nodes) {
      if (n.blocked && n.pending()) {
        std::fprintf(stderr,
                     "fuzz_coro: coroutine %llu still waits with a pending cancel after the "
                     "executor ran dry\n",
                     static_cast<unsigned long long>(tag));
        FUZZ_CHECK(false);
      }
    }
  }
};

world* w = nullptr;

void value_deleter::operator()(std::uint64_t* p) const noexcept {
  if (w != nullptr) {
    FUZZ_CHECK(w->destroyed.insert(*p).second);
  }
  delete p;
}

/// Destroys a frame: a suspended coroutine is unwound (counted by its node_life).
template <class Frame>
void destroy(Frame& f) {
  f = Frame{};
}

/// A worker's children, destroyed (unwound if suspended) when the worker ends or is
/// itself unwound. Registered in the worker's node, for cancel_peer and the driver's cancel.
struct children_t {
  std::vector<xcoro::frame_t<void>> v;
  std::vector<std::uint64_t> tags;  // v[i]'s tag
  node& owner;
  explicit children_t(node& n) : owner(n) { owner.children = this; }
  children_t(const children_t&) = delete;
  children_t& operator=(const children_t&) = delete;
  ~children_t() {
    owner.children = nullptr;
    for (auto& f : v) {
      destroy(f);
    }
  }
};

void world::cancel_in_slot(std::uint8_t slot, std::uint8_t which) {
  worker& peer = (*workers)[slot % max_workers];
  children_t* kids = peer.f.frame() != nullptr ? nodes.at(peer.tag).children : nullptr;
  if (which % 4 == 0 || kids == nullptr || kids->v.empty()) {
    cancel(peer.f.frame(), peer.tag);
  } else {
    std::size_t i = static_cast<std::size_t>(which - 1) % kids->v.size();
    cancel(kids->v[i].frame(), kids->tags[i]);
  }
}

/// Marks a coroutine's model finished when its body ends, normally or unwound, and counts
/// it if it was unwound (`ended` not set). A child that ends returns to its starter, which
/// may be waiting in a plain xsuspend.
struct node_life {
  node& n;
  bool ended = false;  // the body reached its end (return or throw), not unwound
  explicit node_life(node& nn) : n(nn) {}
  node_life(const node_life&) = delete;
  node_life& operator=(const node_life&) = delete;
  ~node_life() {
    if (!ended) {
      ++w->destroyed_suspended;
    }
    n.finished = true;
    n.blocked = false;
    if (n.parent != 0) {
      w->nodes.at(n.parent).may_wake = true;
    }
  }
};

/// Marks a coroutine as waiting in a cancellable call for the call's duration.
struct blocked_scope {
  node& n;
  explicit blocked_scope(node& nn) : n(nn) { n.blocked = true; }
  blocked_scope(const blocked_scope&) = delete;
  blocked_scope& operator=(const blocked_scope&) = delete;
  ~blocked_scope() { n.blocked = false; }
};

/// A cancel_shield and its model. Ending the last shield of a cancelled coroutine sends
/// the cancel on to its children, and must resume nobody.
class model_shield {
 public:
  explicit model_shield(node& n) : n_(n) {
    ++n_.shields;
    s_.emplace();
  }
  model_shield(const model_shield&) = delete;
  model_shield& operator=(const model_shield&) = delete;
  ~model_shield() {
    --n_.shields;
    if (n_.shields == 0 && n_.cancelled) {
      w->flow_to_kids(n_);
    }
    FUZZ_CHECK(!w->in_cancel);
    w->in_cancel = true;
    s_.reset();
    w->in_cancel = false;
  }

 private:
  node& n_;
  std::optional<xcoro::cancel_shield> s_;
};

/// A worker's open shields, innermost last, each with the number of commands it still
/// covers (an inner one never outlives an outer one).
struct shields_t {
  std::optional<model_shield> level[max_shield_depth];
  int left[max_shield_depth] = {};
  int depth = 0;
  node& n;

  explicit shields_t(node& nn) : n(nn) {}
  shields_t(const shields_t&) = delete;
  shields_t& operator=(const shields_t&) = delete;

  /// Opens a shield covering the next `k` commands (the one opening it not counted).
  void begin(int k) {
    if (depth == max_shield_depth) {
      return;
    }
    left[depth] = k + 1;
    if (depth > 0) {
      left[depth] = std::min(left[depth], left[depth - 1]);
    }
    level[depth].emplace(n);
    ++depth;
  }
  void end() {
    if (depth > 0) {
      level[--depth].reset();
    }
  }
  /// After each command: ends the shields whose commands are done.
  void step() {
    for (int i = 0; i < depth; ++i) {
      --left[i];
    }
    while (depth > 0 && left[depth - 1] <= 0) {
      end();
    }
  }
};

/// A worker's task_group and its model. Its destructor cancels the children still running
/// and waits for them (or, if the worker is being unwound, destroys them); after it, every
/// child of the group has finished.
struct group_t {
  group_model m;
  std::optional<xcoro::task_group> g;
  group_t() { g.emplace(); }
  group_t(const group_t&) = delete;
  group_t& operator=(const group_t&) = delete;
  ~group_t() {
    w->stop_group(m, 0);
    g.reset();
    check_done();
  }
  /// task_group::size() against the model.
  void check_size() const {
    std::size_t running = 0;
    for (std::uint64_t k : m.kids) {
      running += w->nodes.at(k).finished ? 0 : 1;
    }
    FUZZ_CHECK(g->size() == running);
  }
  void check_done() const {
    for (std::uint64_t k : m.kids) {
      FUZZ_CHECK(w->nodes.at(k).finished);
    }
  }
};

/// What only a worker has: its children's frames, its shields and its task_group.
struct worker_scope {
  children_t& children;
  shields_t& shields;
  group_t& group;
};

int chan(std::uint8_t b) {
  return b % num_channels;
}

/// A child's script, derived from the operands of spawn or spawn_in_group: channel
/// commands and suspends only.
script child_script(const command& c) {
  script s;
  std::size_t len = c.b % (max_child_script + 1);
  for (std::size_t j = 0; j < len; ++j) {
    auto what = static_cast<cmd>((c.a + 3 * j + c.b) % static_cast<int>(cmd::spawn));
    s.push_back({what, static_cast<std::uint8_t>(c.a + j), static_cast<std::uint8_t>(c.b + 2 * j)});
  }
  return s;
}

/// Runs one command in a coroutine with tag `self`. `ws` is null in a child.
void run_command(std::uint64_t self, const command& c, worker_scope* ws);

void run_script(std::uint64_t self, const script& s) {
  node& me = w->nodes.at(self);
  node_life life(me);
  children_t children(me);
  group_t group;          // joined after the shields end, before the children are destroyed
  shields_t shields(me);  // ends first
  worker_scope ws{children, shields, group};
  for (const command& c : s) {
    run_command(self, c, &ws);
    shields.step();
  }
  life.ended = true;
}

void run_child(std::uint64_t self, const script& s) {
  node_life life(w->nodes.at(self));
  for (const command& c : s) {
    run_command(self, c, nullptr);
  }
  life.ended = true;
}

/// A task_group child: runs its script, then returns an error (how 1), throws (how 2) or
/// returns errc::canceled if it was cancelled, which is no failure (else). A failure
/// cancels its running siblings, and stops the group.
xcoro::result<void> run_group_child(std::uint64_t self, const script& s, int how) {
  node& me = w->nodes.at(self);
  group_model& g = *me.group;
  node_life life(me);
  for (const command& c : s) {
    run_command(self, c, nullptr);
  }
  life.ended = true;
  if (how == 1 || how == 2) {
    if (g.first == group_model::failure::none) {
      g.first = how == 1 ? group_model::failure::error : group_model::failure::exception;
      w->stop_group(g, self);
    }
    FUZZ_TRACE("[%llu] group child fails (%s)\n", static_cast<unsigned long long>(self),
               how == 1 ? "error" : "exception");
    if (how == 2) {
      throw std::runtime_error("group child threw");
    }
    return std::make_error_code(std::errc::io_error);
  }
  if (xcoro::cancel_requested()) {
    return xcoro::errc::canceled;
  }
  return {};
}

void run_command(std::uint64_t self, const command& c, worker_scope* ws) {
  node& me = w->nodes.at(self);
  children_t* children = ws != nullptr ? &ws->children : nullptr;
  shields_t* shields = ws != nullptr ? &ws->shields : nullptr;
  FUZZ_CHECK(!w->in_cancel);
  FUZZ_CHECK(xcoro::cancel_requested() == me.cancelled);
  // Whether this call, if blocking, must return canceled at once.
  const bool pending = me.pending();
  int k = chan(c.a);
  FUZZ_TRACE("[%llu] %s a=%u b=%u%s%s\n", static_cast<unsigned long long>(self),
             cmd_names[static_cast<int>(c.what)], c.a, c.b, me.cancelled ? " cancelled" : "",
             me.shields != 0 ? " shielded" : "");
  switch (c.what) {
    case cmd::send: {
      value v = w->make_value(self);
      std::uint64_t n = *v;
      xcoro::result<void> r;
      {
        blocked_scope b(me);
        r = w->ch[k]->send(std::move(v));
      }
      FUZZ_CHECK(!w->in_cancel);
      FUZZ_TRACE("[%llu] send ch%d -> %s\n", static_cast<unsigned long long>(self), k,
                 outcome(r ? std::error_code() : r.error()));
      if (r) {
        FUZZ_CHECK(!pending);
        w->sent_ok.emplace(n, k);
      } else {
        // Not delivered: the value died in the call.
        FUZZ_CHECK(w->destroyed.count(n) == 1);
        w->refuse(n);
        if (r.error() == xcoro::errc::canceled) {
          FUZZ_CHECK(me.pending());
        } else {
          FUZZ_CHECK(r.error() == xcoro::errc::channel_closed);
          FUZZ_CHECK(!pending);  // a pending cancel wins over a closed channel
          FUZZ_CHECK(w->closed[k]);
        }
      }
      break;
    }
    case cmd::recv: {
      std::size_t before = w->ch[k]->size();
      std::optional<value> v;
      {
        blocked_scope b(me);
        v = w->ch[k]->recv();
      }
      FUZZ_CHECK(!w->in_cancel);
      FUZZ_TRACE("[%llu] recv ch%d -> %s\n", static_cast<unsigned long long>(self), k,
                 v ? "value" : "nullopt");
      if (pending) {
        FUZZ_CHECK(!v.has_value());
        FUZZ_CHECK(w->ch[k]->size() == before);  // buffered values stay
      } else if (v) {
        w->got(self, k, *v);
      } else if (!w->closed[k] || w->ch[k]->size() != 0) {
        // Not a close: a cancel that came while it waited.
        FUZZ_CHECK(me.pending());
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
      // Only the driver or a child returning to this coroutine continues it; a cancel
      // never does.
      me.may_wake = false;
      xcoro::xsuspend();
      FUZZ_CHECK(!w->in_cancel);
      FUZZ_CHECK(me.may_wake);
      break;
    case cmd::select_recv2: {
      int k2 = chan(c.b);
      if (k2 == k) {
        k2 = (k + 1) % num_channels;
      }
      std::optional<value> o1, o2;
      xcoro::result<std::size_t> r;
      {
        blocked_scope b(me);
        r = xcoro::select(xcoro::recv_case(*w->ch[k], o1), xcoro::recv_case(*w->ch[k2], o2));
      }
      FUZZ_CHECK(!w->in_cancel);
      FUZZ_TRACE("[%llu] select recv ch%d, recv ch%d -> %s %d\n",
                 static_cast<unsigned long long>(self), k, k2,
                 outcome(r ? std::error_code() : r.error()), r ? static_cast<int>(*r) : -1);
      if (!r) {
        FUZZ_CHECK(r.error() == xcoro::errc::canceled);
        FUZZ_CHECK(me.pending());
        FUZZ_CHECK(!o1.has_value() && !o2.has_value());  // no case performed
        break;
      }
      FUZZ_CHECK(!pending);
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
      xcoro::result<std::size_t> r;
      {
        blocked_scope b(me);
        r = xcoro::select(xcoro::send_case(*w->ch[k], v), xcoro::recv_case(*w->ch[k2], o));
      }
      FUZZ_CHECK(!w->in_cancel);
      FUZZ_TRACE("[%llu] select send ch%d, recv ch%d -> %s %d\n",
                 static_cast<unsigned long long>(self), k, k2,
                 outcome(r ? std::error_code() : r.error()), r ? static_cast<int>(*r) : -1);
      if (!r) {
        FUZZ_CHECK(r.error() == xcoro::errc::canceled);
        FUZZ_CHECK(me.pending());
        FUZZ_CHECK(!o.has_value());
        FUZZ_CHECK(v != nullptr && *v == n);  // not sent: it stays here, and dies here
        w->refuse(n);
        break;
      }
      FUZZ_CHECK(!pending);
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
      script s = child_script(c);
      std::uint64_t tag = w->next_tag++;
      w->add_node(tag, self);
      FUZZ_TRACE("  child %llu%s, %zu commands\n", static_cast<unsigned long long>(tag),
                 w->nodes.at(tag).cancelled ? " born cancelled" : "", s.size());
      auto f = xcoro::xasync(run_child, tag, std::move(s));
      FUZZ_CHECK(f.has_value());
      FUZZ_CHECK(!w->in_cancel);
      children->v.push_back(std::move(*f));
      children->tags.push_back(tag);
      break;
    }
    case cmd::await_child: {
      if (children == nullptr) {
        break;
      }
      for (auto& f : children->v) {
        if (f.status() != xcoro::status::done) {
          // Not interrupted by a cancel: it returns once the (cancelled) child finishes.
          xcoro::xawait(f);
          FUZZ_CHECK(!w->in_cancel);
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
    case cmd::cancel_peer:
      // From a third coroutine, as destroy_peer; the peer may be this worker itself (a
      // running coroutine cancelling itself) or one of its own children.
      if (children != nullptr) {
        w->cancel_in_slot(c.a, c.b);
      }
      break;
    case cmd::cancel_child:
      if (children != nullptr && !children->v.empty()) {
        std::size_t i = c.a % children->v.size();
        w->cancel(children->v[i].frame(), children->tags[i]);
      }
      break;
    case cmd::shield_begin:
      if (shields != nullptr) {
        shields->begin(1 + c.a % 5);
      }
      break;
    case cmd::shield_end:
      if (shields != nullptr) {
        shields->end();
      }
      break;
    case cmd::spawn_in_group: {
      if (ws == nullptr) {
        break;
      }
      group_t& gr = ws->group;
      gr.check_size();
      std::uint64_t tag = w->next_tag++;
      w->add_node(tag, self, &gr.m);
      script s = child_script(c);
      FUZZ_TRACE("  group child %llu%s, %zu commands\n", static_cast<unsigned long long>(tag),
                 w->nodes.at(tag).cancelled ? " born cancelled" : "", s.size());
      xcoro::result<void> r = gr.g->spawn(run_group_child, tag, std::move(s), c.a / 64);
      FUZZ_CHECK(r.has_value());
      FUZZ_CHECK(!w->in_cancel);
      gr.check_size();
      break;
    }
    case cmd::group_wait: {
      if (ws == nullptr) {
        break;
      }
      group_t& gr = ws->group;
      xcoro::result<void> r;
      bool threw = false;
      try {
        // Not interrupted by a cancel: it returns once the (cancelled) children finish.
        r = gr.g->wait();
      } catch (const std::runtime_error&) {
        threw = true;
      }
      FUZZ_CHECK(!w->in_cancel);
      FUZZ_TRACE("[%llu] group_wait -> %s\n", static_cast<unsigned long long>(self),
                 threw ? "threw"
                 : r   ? "ok"
                       : r.error().message().c_str());
      gr.check_done();
      gr.check_size();
      switch (gr.m.first) {
        case group_model::failure::exception:
          FUZZ_CHECK(threw);
          break;
        case group_model::failure::error:
          FUZZ_CHECK(!threw && !r && r.error() == std::errc::io_error);
          break;
        case group_model::failure::none:
          FUZZ_CHECK(!threw);
          if (gr.m.cancelled || me.pending()) {
            FUZZ_CHECK(!r && r.error() == xcoro::errc::canceled);
          } else {
            FUZZ_CHECK(r.has_value());
          }
          break;
      }
      break;
    }
    case cmd::group_cancel:
      if (ws != nullptr) {
        group_t& gr = ws->group;
        gr.m.cancelled = true;
        w->stop_group(gr.m, 0);
        FUZZ_CHECK(!w->in_cancel);
        w->in_cancel = true;
        gr.g->cancel();
        w->in_cancel = false;
        gr.check_size();
      }
      break;
    case cmd::count:
      break;
  }
  FUZZ_CHECK(xcoro::cancel_requested() == me.cancelled);
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
  cancel,          // operands: worker slot, which (see cmd::cancel_peer); from root
  count
};

constexpr const char* op_names[] = {"create_worker", "resume_worker", "destroy_worker",
                                    "tick",          "root_try_send", "root_try_recv",
                                    "close",         "create_gen",    "step_gen",
                                    "destroy_gen",   "drain",         "cancel"};
static_assert(std::size(op_names) == static_cast<std::size_t>(op::count));

/// Resumes a worker from the driver (which may continue a plain xsuspend).
void driver_resume(worker& wk) {
  w->nodes.at(wk.tag).may_wake = true;
  xcoro::xresume(wk.f);
}

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
    FUZZ_TRACE("driver: %s\n", op_names[static_cast<int>(o)]);
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
        wd.add_node(wk.tag, 0);
        FUZZ_TRACE("  slot %zu: worker %llu, %zu commands\n", slot,
                   static_cast<unsigned long long>(wk.tag), s.size());
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
          driver_resume(wk);
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
        if (wd.ex.empty()) {
          wd.check_no_stuck_cancel();
        }
        break;
      case op::cancel: {
        std::uint8_t slot = in.byte();
        wd.cancel_in_slot(slot, in.byte());
        break;
      }
      case op::count:
        break;
    }
    for (int k = 0; k < num_channels; ++k) {
      wd.check_channel(k);
    }
  }

  // Clean end: close everything, let the coroutines run out (resuming the ones parked in
  // a plain xsuspend), then destroy what is left.
  FUZZ_TRACE("driver: clean end\n");
  for (int k = 0; k < num_channels; ++k) {
    wd.close(k);
  }
  for (int round = 0; round < 64; ++round) {
    for (int i = 0; i < 1000 && wd.ex.tick(); ++i) {
    }
    bool any = false;
    for (worker& wk : workers) {
      if (wk.f.status() == xcoro::status::start || wk.f.status() == xcoro::status::suspended) {
        driver_resume(wk);
        any = true;
      }
    }
    if (wd.ex.empty()) {
      wd.check_no_stuck_cancel();
      if (!any) {
        break;
      }
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
  for (std::uint64_t n : buffered) {
    FUZZ_CHECK(wd.refused.count(n) == 0);  // its send failed, yet the channel kept it
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
  // Every value was destroyed exactly once (value_deleter checks "at most").
  FUZZ_CHECK(wd.destroyed == wd.offered);
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
