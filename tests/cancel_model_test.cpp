// A seeded randomized model test of cancellation, once per backend. Actors (coroutines, some
// started by others, so that cancels flow down) run random scripts over three channels
// (capacities 0, 1 and 4), select with and without deadlines, a mutex, a semaphore, a
// wait_group, sleeps and socket IO, while a controller coroutine and root cancel them at
// random, shields hold cancels back, and owners destroy their frames. A model of the cancel
// flags (docs/cancel.md: the flow down the tree, shields, coroutines born cancelled) runs
// beside them, and every blocking call is checked against it. At the end: every coroutine
// finished, no value was lost or received twice (counted payloads: no leak, no double
// destruction), the mutex is free, the permits are back, and a run that stops with
// errc::deadlock really could not move. The tests at the end are the library bugs this
// model found, minimised.
//
// The same model runs again on a runtime of 2 and 8 workers (CancelModelOnWorkers): a host
// coroutine per worker (a block_on from a thread each) starts its share of the actors, some
// pinned to its worker (xasync) and some spawned (any worker may start them), so that
// channel and sync wake-ups, cancels and the frames they destroy cross workers. The model is
// one lock (model_lock) that a coroutine holds while it runs model code and lets go around
// every call that may suspend. What cross-thread timing leaves open, the model accepts
// exactly: a cancel of a coroutine on another worker returns true (the request was sent;
// docs/runtime.md) and takes effect when that worker runs it, between two turns of its
// coroutines; the model learns that moment at the next turn there (land_remote_cancels) and
// applies the flow down the tree as it was then. Everything else is checked as on one thread.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define XCORO_TEST_HAVE_VALGRIND 1
#endif

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "support/counted.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/runtime.hpp"
#include "xcoro/scope.hpp"
#include "xcoro/sync.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using xcoro::channel;
using xcoro_test::counted;
using xcoro_test::ledger;
using CancelModel = xcoro_test::aio_fixture;

bool under_valgrind() {
#if defined(XCORO_TEST_HAVE_VALGRIND)
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

/// The size of a run.
struct model_options {
  int actors = 6;             // started by root
  int steps = 18;             // script length of a root-started actor; children get half
  int controller_steps = 40;  // the controller's cancels, destructions and root actions
};

/// Totals over all seeds, to show that the seeds still exercise what the test is about.
struct model_stats {
  long cancels = 0;                 // cancel() calls that returned true
  long canceled_while_waiting = 0;  // blocking calls that returned canceled after suspending
  long canceled_on_entry = 0;       // blocking calls that returned canceled at once
  long shielded_calls = 0;
  long timeouts = 0;
  long destroyed = 0;                // frames destroyed while their coroutine was suspended
  long destroyed_satisfied = 0;      // ... in a wait that looked satisfied (handed over)
  long destroyed_after_handing = 0;  // children dropped by a starter that just served them
  long root_actions = 0;
  long values_sent = 0;
  long values_received = 0;
  long socket_messages = 0;
  long deadlocks = 0;         // runs that ended with errc::deadlock (then checked as real)
  long quiescent_checks = 0;  // checks for lost wake-ups while the run went on
  long remote_cancels = 0;    // cancel() of a coroutine running on another worker
  long remote_landed = 0;     // ... seen to take effect while its target still ran
  long spawned = 0;           // actors started by spawn that ran
  long seeds = 0;
};

constexpr int n_channels = 3;
constexpr std::array<std::size_t, n_channels> capacities{0, 1, 4};
constexpr int n_pairs = 2;
constexpr std::size_t n_permits = 2;
constexpr int max_depth = 2;      // root-started actors are depth 0
constexpr int socket_where = 10;  // value_info::where of socket pair p: 10 + p
// Socket writes per pair and seed: fewer than net.unix.max_dgram_qlen (10 by default), so a
// write never blocks for want of a reader.
constexpr int max_socket_writes = 8;
constexpr std::size_t message_size = 8;  // a socket message: a value id

/// What an actor waits in, for the check that a reported deadlock is real.
enum class wait_kind : std::uint8_t {
  none,
  send,
  recv,
  select,
  lock,
  acquire,
  wg_wait,
  await_child,
  sleep,
  sock_read,
  sock_write,
};

struct wait_spec {
  wait_kind kind = wait_kind::none;
  bool timed = false;
  int n = 0;                   // channels (or the pair) involved
  std::array<int, 3> ch{};     // channel of each case (the pair for socket IO)
  std::array<bool, 3> send{};  // whether each case sends
  int child = -1;              // await_child: the child's index
};

/// The model of one coroutine. Lives in world::actors, which never moves its elements.
struct actor {
  int index = 0;
  int host = 0;     // on a runtime: the host that starts it (root-started actors)
  int worker = -1;  // on a runtime: the worker it runs on, from its start
  bool spawned = false;  // started by spawn: may start on any worker, never destroyed early
  int parent = -1;  // the actor that started it while that one still runs; -1: root, or gone
  int depth = 0;
  bool world_owned = true;  // its frame_t is in here, not on its starter's stack
  std::uint32_t seed = 0;
  xcoro::frame handle = nullptr;  // while running
  bool running = false;           // its body has started and not ended
  bool finished = false;          // its body returned
  bool unwound = false;           // its body was unwound (frame_t destroyed)
  bool cancel_flag = false;       // what cancel_requested() must say
  int shields = 0;
  std::vector<int> children;  // running children it started (the library's starter links)
  wait_spec waiting;
  wait_kind first = wait_kind::none;  // lock or acquire: its script starts with that wait
  bool last_wait = false;             // in the wait that ends its script: not destroyed
  bool starts_child = false;          // its script starts by starting a child
  // A cancel that reached it while it waited in a sleep or socket IO: when, and after which
  // event (world::events), to tell a wait it withdrew from one that was satisfied first.
  bool hit = false;
  std::chrono::steady_clock::time_point hit_at;
  std::uint64_t hit_event = 0;
  xcoro::frame_t<void> frame;  // world-owned actors only
};

enum class vstate : std::uint8_t { offered, sent, failed, maybe };

/// A value (channel payload or socket message) by id.
struct value_info {
  vstate st = vstate::offered;
  int where = 0;  // channel index, or socket_where + pair
  int received = 0;
  std::uint64_t written_at = 0;  // socket messages: the event their write started at
};

/// A connected SOCK_SEQPACKET pair: one message per read, so a reader that is destroyed
/// mid-read can lose a whole message but never split one. On a runtime each worker has its
/// own pairs (an IO object is not used from two threads at once).
struct socket_pair {
  std::optional<aio::tcp> w;  // written by actors
  std::optional<aio::tcp> r;  // read by actors
  int writes = 0;
  int destroyed_reading = 0;  // readers unwound in a read: each may have taken one message
};

/// The model's lock. On a runtime, coroutines of several workers run model code at once: a
/// coroutine holds this lock while it does (hold_model), and lets go around every call that
/// may suspend (unlocked), so that one thread at a time reads and changes the model, between
/// the library calls it checks. Recursive per thread: a coroutine started eagerly (xasync) or
/// unwound by a destroyed frame_t runs inside its starter's or destroyer's turn on the same
/// thread, as on one thread. Atomics rather than a std::recursive_mutex, since the nested
/// levels belong to different coroutines of one thread, which ThreadSanitizer takes for
/// different threads.
class model_lock {
 public:
  void lock() {
    const std::thread::id me = std::this_thread::get_id();
    if (owner_.load(std::memory_order_relaxed) != me) {
      std::thread::id none;
      for (int spins = 0; !owner_.compare_exchange_weak(none, me, std::memory_order_acquire,
                                                        std::memory_order_relaxed);
           none = std::thread::id()) {
        if (++spins > 64) {
          std::this_thread::yield();  // 8 workers on 2 vCPUs: the holder may be off its CPU
        }
      }
    }
    ++depth_;
  }
  void unlock() {
    if (--depth_ == 0) {
      owner_.store(std::thread::id(), std::memory_order_release);
    }
  }

 private:
  std::atomic<std::thread::id> owner_{};
  int depth_ = 0;  // the owner's
};

struct world;
void actor_body(world* w, int self);
bool could_proceed(world& w, int self, const wait_spec& ws, int k);

struct world {
  /// `n_workers`: 0 on one thread, else the runtime's workers (the world is made on one).
  world(aio::executor* e,
        std::uint32_t s,
        const model_options& o,
        model_stats& st,
        int n_workers = 0)
      : ex(e),
        seed(s),
        opts(o),
        stats(st),
        rng(s * 7919u + 17u),
        workers(n_workers),
        pairs(static_cast<std::size_t>(std::max(1, n_workers))) {
    for (int c = 0; c < n_channels; ++c) {
      channels[c] =
          std::make_unique<channel<counted>>(xcoro::channel_options{.capacity = capacities[c]});
    }
    values.emplace_back();  // ids start at 1
    for (auto& set : pairs) {
      for (socket_pair& p : set) {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
          fail("socketpair: " + std::string(std::strerror(errno)));
          continue;
        }
        p.w.emplace(nullptr, fds[0]);
        p.r.emplace(nullptr, fds[1]);
      }
    }
    root_node.fn = &world::root_action_thunk;
    root_node.userdata = this;
  }
  /// Destroys what still runs (after a failure) while the world it uses still exists.
  ~world() {
    if (root_queued) {
      ex->exec().cancel(root_node);
    }
    controller = {};
    for (actor& a : actors) {
      a.frame = {};
    }
  }
  world(const world&) = delete;
  world& operator=(const world&) = delete;

  /// Records a failure once (the controller's checks would repeat it), at most 20 a seed.
  void fail(const std::string& what) {
    if (errors.size() < 20 && std::find(errors.begin(), errors.end(), what) == errors.end()) {
      errors.push_back(what);
    }
  }
  std::string name(int i) const {
    return "actor " + std::to_string(i) + " (depth " + std::to_string(actors[i].depth) + ")";
  }
  channel<counted>& ch(int c) { return *channels[c]; }
  bool pending(int i) const { return actors[i].cancel_flag && actors[i].shields == 0; }

  /// Takes the model lock (see model_lock), and on a runtime learns which cancels posted to
  /// this worker have run since its last turn.
  void enter() {
    lock.lock();
    land_remote_cancels(false);
  }
  void leave() { lock.unlock(); }

  /// The socket pairs of the running coroutine's worker, and the value_info::where of one.
  int pair_set() const { return workers > 0 ? xcoro::this_worker() : 0; }
  static int socket_where_of(int set, int p) { return socket_where + set * n_pairs + p; }

  /// A cancel posted to another worker runs there in the worker's root, between two turns
  /// of its coroutines, and cancels its target and the target's tree as they are then. Every
  /// turn on that worker starts here (enter), so the first one after it finds the target's
  /// flag set and applies the same cancel to the model, with the tree unchanged since. The
  /// flag is read through the library's record (the test's only window onto when the
  /// posted request ran); only the target's worker writes it once it has started.
  /// `anywhere`: every worker is idle (after a run), so look at them all.
  void land_remote_cancels(bool anywhere) {
    const int here = xcoro::this_worker();
    for (std::size_t k = 0; k < in_flight.size();) {
      actor& a = actors[in_flight[k]];
      if (!a.running || a.cancel_flag) {
        // Finished, or cancelled already: the request finds nothing to do when it runs.
        in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(k));
        continue;
      }
      if ((anywhere || a.worker == here) &&
          (xcoro::detail::coro_access::flags(a.handle) & xcoro::detail::flag_cancel) != 0) {
        in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(k));
        ++stats.remote_landed;
        mark_cancelled(a.index);
        continue;
      }
      ++k;
    }
  }

  int add_actor(int parent, bool world_owned, std::uint32_t actor_seed) {
    actor& a = actors.emplace_back();
    a.index = static_cast<int>(actors.size()) - 1;
    a.parent = parent;
    a.depth = parent < 0 ? 0 : actors[parent].depth + 1;
    a.world_owned = world_owned;
    a.seed = actor_seed;
    return a.index;
  }

  int offer(int where) {
    values.push_back({vstate::offered, where, 0});
    return static_cast<int>(values.size()) - 1;
  }

  void received(int id, int where, const char* how) {
    if (id <= 0 || id >= static_cast<int>(values.size())) {
      fail(std::string(how) + ": received a value never offered: " + std::to_string(id));
      return;
    }
    value_info& v = values[id];
    if (v.where != where) {
      fail(std::string(how) + ": value " + std::to_string(id) + " offered on " +
           std::to_string(v.where) + " arrived on " + std::to_string(where));
    }
    if (v.st == vstate::failed) {
      fail(std::string(how) + ": value " + std::to_string(id) +
           " was received although its send failed");
    }
    if (++v.received > 1) {
      fail(std::string(how) + ": value " + std::to_string(id) + " received twice");
    }
    ++stats.values_received;
  }

  void received(const counted& v, int where, const char* how) {
    if (!v.intact()) {
      fail(std::string(how) + ": received a damaged value");
      return;
    }
    received(v.value(), where, how);
  }

  /// cancel(a) from wherever we are, checked against the model: it returns false exactly
  /// when a was cancelled already; the flag then flows down as docs/cancel.md says. On
  /// another worker it returns true (the request was sent) and takes effect later there
  /// (land_remote_cancels).
  void cancel_actor(int i, const char* by) {
    actor& a = actors[i];
    if (!a.running) {
      return;
    }
    if (workers > 0 && a.worker != xcoro::this_worker()) {
      if (!xcoro::cancel(a.handle)) {
        fail(std::string("cancel(") + name(i) + ") by " + by + " on worker " +
             std::to_string(xcoro::this_worker()) + " returned false; a cancel sent to worker " +
             std::to_string(a.worker) + " returns true");
      }
      ++stats.remote_cancels;
      if (!a.cancel_flag) {
        in_flight.push_back(i);
      }
      return;
    }
    bool expected = !a.cancel_flag;
    bool got = xcoro::cancel(a.handle);
    if (got != expected) {
      fail(std::string("cancel(") + name(i) + ") by " + by + " returned " +
           (got ? "true" : "false") + ", the model says " + (expected ? "true" : "false"));
    }
    if (got) {
      ++stats.cancels;
      mark_cancelled(i);
    }
  }
  /// The library's cancel_tree: mark, and unless shielded, go on to the running children.
  void mark_cancelled(int i) {
    actor& a = actors[i];
    a.cancel_flag = true;
    if (a.shields > 0) {
      return;
    }
    wait_kind kind = a.waiting.kind;
    if (!a.hit && (kind == wait_kind::sleep || kind == wait_kind::sock_read)) {
      a.hit = true;
      a.hit_at = std::chrono::steady_clock::now();
      a.hit_event = ++events;
    }
    std::vector<int> kids = a.children;  // a copy: the model of the walk changes nothing
    for (int k : kids) {
      mark_cancelled(k);
    }
  }

  /// Whether actor i can be destroyed: it runs, and so (the destroyer running) is
  /// suspended, which must be in a wait the model knows.
  bool may_destroy(int i) {
    const actor& a = actors[i];
    if (!a.running) {
      return false;
    }
    if (a.waiting.kind == wait_kind::none) {
      fail(name(i) + " is suspended outside any wait the model knows of");
      return false;
    }
    return !a.last_wait;
  }

  /// Whether actor i's wait looks satisfied already (signalled, its wake-up queued): what
  /// it waits for is there. Destroying such a waiter is what tests that nothing handed
  /// over dies with it.
  bool looks_signalled(int i) {
    const wait_spec& ws = actors[i].waiting;
    switch (ws.kind) {
      case wait_kind::send:
      case wait_kind::recv:
      case wait_kind::select:
        for (int k = 0; k < ws.n; ++k) {
          if (could_proceed(*this, i, ws, k)) {
            return true;
          }
        }
        return false;
      case wait_kind::lock:
        return mutex_holder == -1;  // handed over, not yet taken up
      case wait_kind::acquire:
        return permits_held + sem.available() < n_permits;
      case wait_kind::wg_wait:
        return wg.count() == 0;
      default:
        return false;
    }
  }
  /// One of `candidates`, most often one whose wait looks satisfied.
  int pick_victim(const std::vector<int>& candidates, std::mt19937& r) {
    std::vector<int> hot;
    for (int i : candidates) {
      if (looks_signalled(i)) {
        hot.push_back(i);
      }
    }
    const std::vector<int>& from = !hot.empty() && r() % 4 != 0 ? hot : candidates;
    int i = from[r() % from.size()];
    stats.destroyed_satisfied += &from == &hot;
    return i;
  }

  /// Destroys a random world-owned actor that may be destroyed (the owner drops its frame):
  /// on a runtime, one pinned to this worker (a spawned coroutine's frame_t must not go
  /// before it finished, and a pinned one's only on its own worker).
  void destroy_some(const char* by) {
    std::vector<int> candidates;
    for (const actor& a : actors) {
      if (a.world_owned && a.running && !a.spawned && a.worker == xcoro::this_worker() &&
          may_destroy(a.index)) {
        candidates.push_back(a.index);
      }
    }
    if (candidates.empty()) {
      return;
    }
    int i = pick_victim(candidates, rng);
    if (actors[i].frame.status() != xcoro::status::suspended) {
      fail(name(i) + " to be destroyed by " + by + " is not suspended");
      return;
    }
    actors[i].frame = {};
    ++stats.destroyed;
    if (actors[i].running || !actors[i].unwound) {
      fail(name(i) + " destroyed by " + std::string(by) + " did not unwind");
    }
  }

  int random_running() {
    std::vector<int> running;
    for (const actor& a : actors) {
      if (a.running) {
        running.push_back(a.index);
      }
    }
    return running.empty() ? -1 : running[rng() % running.size()];
  }

  /// Root's turn, run by the executor's tick in root: cancel or destroy someone.
  static void root_action_thunk(void* p) {
    auto* w = static_cast<world*>(p);
    w->enter();
    w->root_queued = false;
    ++w->stats.root_actions;
    if (w->rng() % 2 == 0) {
      if (int i = w->random_running(); i >= 0) {
        w->cancel_actor(i, "root");
      }
    } else {
      w->destroy_some("root");
    }
    w->leave();
  }
  void post_root_action() {
    if (!root_queued) {
      root_queued = true;
      ex->exec().run_soon(root_node);
    }
  }

  /// Ends socket traffic: readers then see eof once drained, writers get EPIPE.
  void shut_sockets() {
    if (sockets_shut) {
      return;
    }
    sockets_shut = true;
    shut_event = ++events;
    for (auto& set : pairs) {
      for (socket_pair& p : set) {
        if (p.w) {
          ::shutdown(p.w->native_handle(), SHUT_WR);
        }
      }
    }
  }

  aio::executor* ex;
  std::uint32_t seed;
  model_options opts;
  model_stats& stats;
  std::mt19937 rng;  // the controller's and root's
  std::vector<std::string> errors;
  std::vector<value_info> values;
  std::array<std::unique_ptr<channel<counted>>, n_channels> channels;
  bool closed = false;
  xcoro::mutex mtx;
  int mutex_holder = -1;
  int in_critical = 0;
  xcoro::semaphore sem{n_permits};
  int permits_held = 0;
  xcoro::wait_group wg;        // counts the children; root-started actors wait on it
  xcoro::wait_group alive_wg;  // counts every actor and the controller; the runs wait on it
  int workers;  // 0: one thread
  model_lock lock;
  std::vector<int> in_flight;    // actors a cancel was sent to on another worker, not yet seen
  int root_count = 0;            // on a runtime: the root-started actors, actors[0, root_count)
  std::vector<int> host_worker;  // on a runtime: the worker of each host
  int controller_worker = -1;
  std::vector<std::array<socket_pair, n_pairs>> pairs;  // one set per worker
  bool sockets_shut = false;
  std::uint64_t events = 0;  // a counter of cancels hitting IO, socket writes and the shutdown
  std::uint64_t shut_event = 0;
  xcoro::executor::func root_node;
  bool root_queued = false;
  xcoro::frame_t<void> controller;
  std::deque<actor> actors;  // last: destroyed first
};

// ---------------------------------------------------------------------------------------
// Guards that keep the model true whichever way a scope is left (returning, or unwound by
// a destroyed frame_t).

/// Holds the model lock for a coroutine's (or root's) turn.
class hold_model {
 public:
  explicit hold_model(world& w) : w_(w) { w.enter(); }
  ~hold_model() { w_.leave(); }
  hold_model(const hold_model&) = delete;
  hold_model& operator=(const hold_model&) = delete;

 private:
  world& w_;
};

/// Lets go of the model lock around a call that may suspend: other coroutines, of this
/// worker or another, run the model meanwhile. Taken again however the call is left.
class unlocked {
 public:
  explicit unlocked(world& w) : w_(w) { w.leave(); }
  ~unlocked() { w_.enter(); }
  unlocked(const unlocked&) = delete;
  unlocked& operator=(const unlocked&) = delete;

 private:
  world& w_;
};

/// Runs `call` without the model lock: a blocking call.
template <class F>
auto unlocked_call(world& w, F&& call) {
  unlocked u(w);
  return call();
}

/// An actor's life: registers it with its starter (born cancelled if that one's cancel is
/// pending), counts it in the wait_groups, and on the way out records how it ended.
class life {
 public:
  life(world& w, int self) : w_(w), self_(self) {
    actor& a = w.actors[self];
    a.handle = xcoro::xframe();
    a.worker = xcoro::this_worker();
    a.running = true;
    w.stats.spawned += a.spawned;
    if (a.parent >= 0) {
      actor& p = w.actors[a.parent];
      p.children.push_back(self);
      a.cancel_flag = p.cancel_flag && p.shields == 0;
      w.wg.add(1);
    }
    w.alive_wg.add(1);
    if (xcoro::cancel_requested() != a.cancel_flag) {
      w.fail(w.name(self) + " born " + (a.cancel_flag ? "uncancelled" : "cancelled") +
             " against the model");
    }
  }
  ~life() {
    actor& a = w_.actors[self_];
    a.running = false;
    a.handle = nullptr;
    a.waiting = {};
    (std::uncaught_exceptions() > 0 ? a.unwound : a.finished) = true;
    if (a.parent >= 0) {
      std::vector<int>& siblings = w_.actors[a.parent].children;
      siblings.erase(std::remove(siblings.begin(), siblings.end(), self_), siblings.end());
    }
    for (int k : a.children) {
      w_.actors[k].parent = -1;  // the library forgets the starter link too
    }
    a.children.clear();
    if (a.depth > 0) {
      w_.wg.done();
    }
    w_.alive_wg.done();
  }
  life(const life&) = delete;
  life& operator=(const life&) = delete;

 private:
  world& w_;
  int self_;
};

/// A cancel_shield and its model: when the last shield ends, a held-back cancel goes on to
/// the running children.
class model_shield {
 public:
  model_shield(world& w, int self, bool on) : w_(w), self_(self) {
    if (on) {
      s_.emplace();
      ++w.actors[self].shields;
      ++w.stats.shielded_calls;
    }
  }
  ~model_shield() {
    if (!s_) {
      return;
    }
    s_.reset();
    actor& a = w_.actors[self_];
    if (--a.shields == 0 && a.cancel_flag) {
      std::vector<int> kids = a.children;
      for (int k : kids) {
        w_.mark_cancelled(k);
      }
    }
  }
  model_shield(const model_shield&) = delete;
  model_shield& operator=(const model_shield&) = delete;

 private:
  world& w_;
  int self_;
  std::optional<xcoro::cancel_shield> s_;
};

/// A value offered by a send: sent, failed, or (unwound while offering) maybe taken.
class offer_guard {
 public:
  offer_guard(world& w, int id) : w_(w), id_(id) {}
  ~offer_guard() {
    if (!settled_) {
      w_.values[id_].st = vstate::maybe;
    }
  }
  void settle(bool sent) {
    settled_ = true;
    value_info& v = w_.values[id_];
    v.st = sent ? vstate::sent : vstate::failed;
    if (sent) {
      ++w_.stats.values_sent;
    } else if (v.received > 0) {
      w_.fail("value " + std::to_string(id_) + " was received although its send failed");
    }
  }
  offer_guard(const offer_guard&) = delete;
  offer_guard& operator=(const offer_guard&) = delete;

 private:
  world& w_;
  int id_;
  bool settled_ = false;
};

/// Sets the actor's wait for the duration of a blocking call.
class waiting_in {
 public:
  waiting_in(world& w, int self, const wait_spec& ws) : a_(w.actors[self]) { a_.waiting = ws; }
  ~waiting_in() { a_.waiting = {}; }
  waiting_in(const waiting_in&) = delete;
  waiting_in& operator=(const waiting_in&) = delete;

 private:
  actor& a_;
};

/// The errors a call may return besides canceled.
enum allowed : unsigned {
  allow_none = 0,
  allow_timeout = 1,
  allow_closed = 2,  // channel_closed, once the channels are closed
  allow_eof = 4,     // end of stream or EPIPE, once the sockets are shut down
};

/// The start of a blocking call, for settle().
struct call_start {
  bool pending;  // a cancel was pending and not held back: the call must return canceled
  std::chrono::steady_clock::time_point at;
  milliseconds least;  // how long the call takes if it times out (or a sleep succeeds)
  bool sleep;
};

call_start begin_call(world& w,
                      int self,
                      milliseconds least = milliseconds(-1),
                      bool sleep = false) {
  w.actors[self].hit = false;
  return {w.pending(self), std::chrono::steady_clock::now(), least, sleep};
}

/// Checks a blocking call's outcome against the model: canceled exactly when a cancel was
/// pending at the start (or came while it waited, never inside a shield), and time only as
/// a lower bound. Returns true if it returned canceled.
bool settle(world& w,
            int self,
            const call_start& start,
            std::error_code ec,
            unsigned allow,
            const char* call) {
  bool pending_before = start.pending;
  if ((start.sleep ? !ec : ec == std::errc::timed_out) &&
      std::chrono::steady_clock::now() - start.at < start.least) {
    w.fail(w.name(self) + ": " + call + (start.sleep ? " returned" : " timed out") +
           " before its " + std::to_string(start.least.count()) + " ms");
  }
  actor& a = w.actors[self];
  if (xcoro::cancel_requested() != a.cancel_flag) {
    w.fail(w.name(self) + " after " + call + ": cancel_requested() says " +
           (a.cancel_flag ? "false" : "true") + " against the model");
  }
  bool canceled = ec == xcoro::errc::canceled;
  if (pending_before && !canceled) {
    w.fail(w.name(self) + ": " + call + " returned '" + (ec ? ec.message() : "success") +
           "' although a cancel was pending when it was called");
  }
  if (canceled) {
    if (!w.pending(self)) {
      w.fail(w.name(self) + ": " + call + " returned canceled although " +
             (a.cancel_flag ? "a shield holds the cancel back" : "it was not cancelled"));
    }
    ++(pending_before ? w.stats.canceled_on_entry : w.stats.canceled_while_waiting);
    return true;
  }
  if (!ec) {
    return false;
  }
  if (ec == std::errc::timed_out && (allow & allow_timeout) != 0) {
    ++w.stats.timeouts;
    return false;
  }
  if (ec == xcoro::errc::channel_closed && (allow & allow_closed) != 0 && w.closed) {
    return false;
  }
  if ((ec == xcoro::errc::eof || ec == std::errc::broken_pipe) && (allow & allow_eof) != 0 &&
      w.sockets_shut) {
    return false;
  }
  w.fail(w.name(self) + ": " + call + " returned an unexpected error: " + ec.message());
  return false;
}

std::error_code code_of(const xcoro::result<void>& r) {
  return r ? std::error_code() : r.error();
}

// ---------------------------------------------------------------------------------------
// The actors' operations. Each returns true when the call returned canceled.

milliseconds some_ms(std::mt19937& rng, int max_ms) {
  return milliseconds(rng() % static_cast<unsigned>(max_ms + 1));
}

bool op_sleep(world& w, int self, std::mt19937& rng, int max_ms) {
  milliseconds ms = some_ms(rng, max_ms);
  waiting_in in(w, self, {.kind = wait_kind::sleep, .timed = true});
  call_start start = begin_call(w, self, ms, true);
  xcoro::result<void> r = unlocked_call(w, [&] { return aio::sleep(nullptr, ms); });
  const actor& a = w.actors[self];
  if (r && a.hit && a.hit_at < start.at + ms) {
    w.fail(w.name(self) + ": aio::sleep succeeded although a cancel came before it was due");
  }
  return settle(w, self, start, code_of(r), allow_none, "aio::sleep");
}

bool op_send(world& w, int self, std::mt19937& rng) {
  int c = static_cast<int>(rng() % n_channels);
  bool timed = rng() % 2 == 0;
  milliseconds ms = some_ms(rng, 3);
  model_shield shield(w, self, rng() % 5 == 0);
  int id = w.offer(c);
  offer_guard offer(w, id);
  waiting_in in(w, self,
                {.kind = wait_kind::send, .timed = timed, .n = 1, .ch = {c}, .send = {true}});
  call_start start = begin_call(w, self, timed ? ms : milliseconds(-1));
  xcoro::result<void> r = unlocked_call(
      w, [&] { return timed ? w.ch(c).send(counted(id), ms) : w.ch(c).send(counted(id)); });
  offer.settle(r.has_value());
  return settle(w, self, start, code_of(r), allow_timeout * timed | allow_closed, "channel::send");
}

/// `rendezvous_untimed`: an untimed recv on the capacity-0 channel.
bool op_recv(world& w, int self, std::mt19937& rng, bool rendezvous_untimed = false) {
  int c = rendezvous_untimed ? 0 : static_cast<int>(rng() % n_channels);
  bool timed = !rendezvous_untimed && rng() % 2 == 0;
  milliseconds ms = some_ms(rng, 3);
  model_shield shield(w, self, rng() % 5 == 0);
  waiting_in in(w, self, {.kind = wait_kind::recv, .timed = timed, .n = 1, .ch = {c}});
  call_start start = begin_call(w, self, timed ? ms : milliseconds(-1));
  std::error_code ec;
  if (timed) {
    xcoro::result<counted> r = unlocked_call(w, [&] { return w.ch(c).recv(ms); });
    if (r) {
      w.received(*r, c, "channel::recv(timeout)");
    } else {
      ec = r.error();
    }
  } else {
    std::optional<counted> v = unlocked_call(w, [&] { return w.ch(c).recv(); });
    if (v) {
      w.received(*v, c, "channel::recv");
    } else {
      // nullopt: cancelled (check cancel_requested()), or closed and drained.
      ec = w.pending(self) ? std::error_code(xcoro::errc::canceled)
                           : std::error_code(xcoro::errc::channel_closed);
    }
  }
  return settle(w, self, start, ec, allow_timeout * timed | allow_closed, "channel::recv");
}

/// The cases of one select: up to three distinct channels, each sent to or received from.
struct select_io {
  int n = 0;
  std::array<int, 3> ch{};
  std::array<bool, 3> send{};
  std::array<std::optional<counted>, 3> values;  // send cases
  std::array<std::optional<counted>, 3> outs;    // recv cases
  bool timed = false;
  bool try_only = false;
  milliseconds ms{0};
};

/// Builds the cases of `io` one by one, then calls select, select with a deadline, or
/// try_select (which says resource_unavailable_try_again when no case could proceed).
template <class... Cases>
xcoro::result<std::size_t> select_with(world& w, select_io& io, Cases&&... cases) {
  constexpr std::size_t k = sizeof...(Cases);
  if constexpr (k < 3) {
    if (static_cast<int>(k) < io.n) {
      channel<counted>& ch = w.ch(io.ch[k]);
      if (io.send[k]) {
        return select_with(w, io, cases..., xcoro::send_case(ch, *io.values[k]));
      }
      return select_with(w, io, cases..., xcoro::recv_case(ch, io.outs[k]));
    }
  }
  if constexpr (k == 0) {
    return std::make_error_code(std::errc::invalid_argument);
  } else {
    if (io.try_only) {
      std::optional<std::size_t> fired = xcoro::try_select(cases...);
      if (!fired) {
        return std::make_error_code(std::errc::resource_unavailable_try_again);
      }
      return *fired;
    }
    return io.timed ? xcoro::select(io.ms, cases...) : xcoro::select(cases...);
  }
}

bool op_select(world& w, int self, std::mt19937& rng) {
  select_io io;
  std::array<int, n_channels> order{0, 1, 2};
  std::shuffle(order.begin(), order.end(), rng);
  io.n = 1 + static_cast<int>(rng() % 3);
  io.try_only = rng() % 6 == 0;
  io.timed = !io.try_only && rng() % 2 == 0;
  io.ms = some_ms(rng, 3);
  std::array<std::optional<offer_guard>, 3> offers;
  std::array<int, 3> ids{};
  for (int k = 0; k < io.n; ++k) {
    io.ch[k] = order[k];
    io.send[k] = rng() % 2 == 0;
    if (io.send[k]) {
      ids[k] = w.offer(io.ch[k]);
      io.values[k].emplace(ids[k]);
      offers[k].emplace(w, ids[k]);
    }
  }
  model_shield shield(w, self, !io.try_only && rng() % 5 == 0);
  call_start start = begin_call(w, self, io.timed ? io.ms : milliseconds(-1));
  xcoro::result<std::size_t> r = [&] {
    wait_spec ws{
        .kind = wait_kind::select, .timed = io.timed, .n = io.n, .ch = io.ch, .send = io.send};
    waiting_in in(w, self, ws);
    return unlocked_call(w, [&] { return select_with(w, io); });
  }();
  int fired = r ? static_cast<int>(*r) : -1;
  for (int k = 0; k < io.n; ++k) {
    if (io.send[k]) {
      bool moved = io.values[k]->value() == -1;
      if (moved && k != fired) {
        w.fail(w.name(self) + ": select moved the value of send case " + std::to_string(k) +
               ", which did not fire");
      }
      if (!moved && k == fired && !w.ch(io.ch[k]).closed()) {
        w.fail(w.name(self) + ": select's send case fired on an open channel but kept its value");
      }
      if (!moved && io.values[k]->value() != ids[k]) {
        w.fail(w.name(self) + ": select damaged the value of send case " + std::to_string(k));
      }
      offers[k]->settle(moved);
    } else if (io.outs[k]) {
      if (k != fired) {
        w.fail(w.name(self) + ": select received on case " + std::to_string(k) +
               ", which did not fire");
      }
      w.received(*io.outs[k], io.ch[k], "select");
    } else if (k == fired && !w.ch(io.ch[k]).closed()) {
      w.fail(w.name(self) + ": select's recv case fired on an open channel without a value");
    }
  }
  if (io.try_only) {
    if (!r && r.error() != std::errc::resource_unavailable_try_again) {
      w.fail(w.name(self) + ": try_select: " + r.error().message());
    }
    return false;
  }
  return settle(w, self, start, r ? std::error_code() : r.error(),
                allow_timeout * io.timed | allow_closed, "select");
}

/// Holds the mutex: checks mutual exclusion, and unlocks however the scope is left.
class critical_section {
 public:
  critical_section(world& w, int self) : w_(w) {
    if (w.mutex_holder != -1 || w.in_critical != 0) {
      w.fail(w.name(self) + " holds the mutex together with actor " +
             std::to_string(w.mutex_holder));
    }
    w.mutex_holder = self;
    ++w.in_critical;
  }
  ~critical_section() {
    --w_.in_critical;
    w_.mutex_holder = -1;
    w_.mtx.unlock();
  }
  critical_section(const critical_section&) = delete;
  critical_section& operator=(const critical_section&) = delete;

 private:
  world& w_;
};

bool op_lock(world& w, int self, std::mt19937& rng, bool blocking = false) {
  if (!blocking && rng() % 4 == 0) {
    if (w.mtx.try_lock()) {
      critical_section cs(w, self);
    }
    return false;
  }
  model_shield shield(w, self, rng() % 5 == 0);
  call_start start = begin_call(w, self);
  xcoro::result<void> r = [&] {
    waiting_in in(w, self, {.kind = wait_kind::lock});
    return unlocked_call(w, [&] { return w.mtx.lock(); });
  }();
  bool canceled = settle(w, self, start, code_of(r), allow_none, "mutex::lock");
  if (r) {
    critical_section cs(w, self);
    if (rng() % 4 != 0) {
      canceled = op_sleep(w, self, rng, 1) || canceled;
    }
  }
  return canceled;
}

/// Holds a permit: checks the count, and releases it however the scope is left.
class permit {
 public:
  permit(world& w, int self) : w_(w) {
    ++w.permits_held;
    if (w.permits_held > static_cast<int>(n_permits) ||
        w.sem.available() + static_cast<std::size_t>(w.permits_held) > n_permits) {
      w.fail(w.name(self) + " acquired a permit: " + std::to_string(w.permits_held) + " held and " +
             std::to_string(w.sem.available()) + " available of " + std::to_string(n_permits));
    }
  }
  ~permit() {
    --w_.permits_held;
    w_.sem.release();
  }
  permit(const permit&) = delete;
  permit& operator=(const permit&) = delete;

 private:
  world& w_;
};

bool op_acquire(world& w, int self, std::mt19937& rng, bool blocking = false) {
  if (!blocking && rng() % 4 == 0) {
    if (w.sem.try_acquire()) {
      permit p(w, self);
    }
    return false;
  }
  model_shield shield(w, self, rng() % 5 == 0);
  call_start start = begin_call(w, self);
  xcoro::result<void> r = [&] {
    waiting_in in(w, self, {.kind = wait_kind::acquire});
    return unlocked_call(w, [&] { return w.sem.acquire(); });
  }();
  bool canceled = settle(w, self, start, code_of(r), allow_none, "semaphore::acquire");
  if (r) {
    permit p(w, self);
    if (rng() % 4 != 0) {
      canceled = op_sleep(w, self, rng, 1) || canceled;
    }
  }
  return canceled;
}

bool op_wg_wait(world& w, int self, std::mt19937& rng) {
  model_shield shield(w, self, rng() % 5 == 0);
  waiting_in in(w, self, {.kind = wait_kind::wg_wait});
  call_start start = begin_call(w, self);
  xcoro::result<void> r = unlocked_call(w, [&] { return w.wg.wait(); });
  return settle(w, self, start, code_of(r), allow_none, "wait_group::wait");
}

bool op_sock_write(world& w, int self, std::mt19937& rng) {
  int p = static_cast<int>(rng() % n_pairs);
  int set = w.pair_set();
  socket_pair& sp = w.pairs[set][p];
  if (!sp.w || sp.writes >= max_socket_writes) {
    return false;
  }
  ++sp.writes;
  bool timed = rng() % 3 == 0;
  milliseconds ms = 1ms + some_ms(rng, 2);
  model_shield shield(w, self, rng() % 5 == 0);
  int id = w.offer(world::socket_where_of(set, p));
  offer_guard offer(w, id);
  std::array<std::byte, message_size> msg{};
  auto id64 = static_cast<std::uint64_t>(id);
  std::memcpy(msg.data(), &id64, sizeof id64);
  w.values[id].written_at = ++w.events;
  waiting_in in(w, self, {.kind = wait_kind::sock_write, .timed = timed, .n = 1, .ch = {p}});
  call_start start = begin_call(w, self, timed ? ms : milliseconds(-1));
  xcoro::result<std::size_t> r =
      unlocked_call(w, [&] { return timed ? sp.w->write(msg, ms) : sp.w->write(msg); });
  if (r && *r != message_size) {
    w.fail(w.name(self) + ": a short write on a SOCK_SEQPACKET socket");
  }
  offer.settle(r && *r == message_size);
  if (r) {
    ++w.stats.socket_messages;
  }
  return settle(w, self, start, r ? std::error_code() : r.error(),
                allow_timeout * timed | allow_eof, "tcp::write");
}

/// A socket read in progress: a reader unwound in it may have taken one message.
class reading {
 public:
  explicit reading(socket_pair& p) : p_(p) {}
  ~reading() {
    if (!done_) {
      ++p_.destroyed_reading;
    }
  }
  void done() { done_ = true; }
  reading(const reading&) = delete;
  reading& operator=(const reading&) = delete;

 private:
  socket_pair& p_;
  bool done_ = false;
};

bool op_sock_read(world& w, int self, std::mt19937& rng) {
  int p = static_cast<int>(rng() % n_pairs);
  int set = w.pair_set();
  socket_pair& sp = w.pairs[set][p];
  if (!sp.r) {
    return false;
  }
  bool timed = rng() % 2 == 0;
  milliseconds ms = 1ms + some_ms(rng, 2);
  model_shield shield(w, self, rng() % 5 == 0);
  std::array<std::byte, 2 * message_size> buf{};
  waiting_in in(w, self, {.kind = wait_kind::sock_read, .timed = timed, .n = 1, .ch = {p}});
  call_start start = begin_call(w, self, timed ? ms : milliseconds(-1));
  reading guard(sp);
  xcoro::result<std::size_t> r =
      unlocked_call(w, [&] { return timed ? sp.r->read(buf, ms) : sp.r->read(buf); });
  guard.done();
  const actor& a = w.actors[self];
  if (r) {
    if (*r != message_size) {
      w.fail(w.name(self) + ": read " + std::to_string(*r) + " bytes, not one message");
    } else {
      std::uint64_t id = 0;
      std::memcpy(&id, buf.data(), sizeof id);
      w.received(static_cast<int>(id), world::socket_where_of(set, p), "tcp::read");
      if (a.hit && id < w.values.size() && w.values[id].written_at > a.hit_event) {
        w.fail(w.name(self) + ": tcp::read returned a message written after the cancel came");
      }
    }
  } else if (r.error() == xcoro::errc::eof && a.hit && w.shut_event > a.hit_event) {
    w.fail(w.name(self) + ": tcp::read saw end of stream that came after the cancel");
  }
  return settle(w, self, start, r ? std::error_code() : r.error(),
                allow_timeout * timed | allow_eof, "tcp::read");
}

/// The children whose frames an actor's stack owns.
struct owned_children {
  std::vector<xcoro::frame_t<void>> frames;
  std::vector<int> index;
};

/// Starts a child, its frame_t kept by the world (which it may outlive) or by this actor's
/// stack; `background`: kept by the world, and its script starts by starting a child.
void op_start_child(world& w,
                    int self,
                    std::mt19937& rng,
                    owned_children& owned,
                    bool background = false) {
  actor& a = w.actors[self];
  if (a.depth >= max_depth || w.actors.size() > 40) {
    return;
  }
  bool world_owned = background || rng() % 2 == 0;
  int child = w.add_actor(self, world_owned, static_cast<std::uint32_t>(rng()));
  w.actors[child].starts_child = background;
  auto f = xcoro::xasync(actor_body, &w, child);
  if (!f) {
    w.fail("xasync: " + f.error().message());
    return;
  }
  if (world_owned) {
    w.actors[child].frame = std::move(*f);
  } else {
    owned.frames.push_back(std::move(*f));
    owned.index.push_back(child);
  }
}

void op_drop_child(world& w, std::mt19937& rng, owned_children& owned) {
  std::vector<int> candidates;
  for (std::size_t k = 0; k < owned.frames.size(); ++k) {
    if (owned.frames[k].status() == xcoro::status::suspended && w.may_destroy(owned.index[k])) {
      candidates.push_back(owned.index[k]);
    }
  }
  if (candidates.empty()) {
    return;
  }
  int victim = w.pick_victim(candidates, rng);
  auto k = static_cast<std::size_t>(std::find(owned.index.begin(), owned.index.end(), victim) -
                                    owned.index.begin());
  owned.frames[k] = {};
  ++w.stats.destroyed;
  if (!w.actors[owned.index[k]].unwound) {
    w.fail(w.name(owned.index[k]) + " dropped by its starter did not unwind");
  }
}

/// Drops the child at `k` if it still waits (it may have run meanwhile).
void drop_if_waiting(world& w, owned_children& owned, std::size_t k) {
  int child = owned.index[k];
  if (owned.frames[k].status() != xcoro::status::suspended || !w.may_destroy(child)) {
    return;
  }
  owned.frames[k] = {};
  ++w.stats.destroyed;
  ++w.stats.destroyed_after_handing;
  if (!w.actors[child].unwound) {
    w.fail(w.name(child) + " dropped by its starter did not unwind");
  }
}

/// Serves a child that waits on a channel (sends it a value, or takes the one it offers),
/// then drops it before it runs: a value handed to it must go on to another receiver, and
/// one taken from it counts as sent.
void op_serve_and_drop(world& w, std::mt19937& rng, owned_children& owned) {
  std::vector<std::size_t> candidates;
  for (std::size_t k = 0; k < owned.frames.size(); ++k) {
    wait_kind kind = w.actors[owned.index[k]].waiting.kind;
    if (owned.frames[k].status() == xcoro::status::suspended &&
        (kind == wait_kind::send || kind == wait_kind::recv || kind == wait_kind::select) &&
        w.may_destroy(owned.index[k])) {
      candidates.push_back(k);
    }
  }
  if (candidates.empty()) {
    return;
  }
  // Best a child with a rival: another actor waiting on the same channel the same way, the
  // one that must get the turn the dropped child had.
  std::vector<std::size_t> rivalled;
  for (std::size_t k : candidates) {
    const wait_spec& ws = w.actors[owned.index[k]].waiting;
    for (const actor& o : w.actors) {
      bool rival = false;
      if (o.running && o.index != owned.index[k] &&
          (o.waiting.kind == wait_kind::send || o.waiting.kind == wait_kind::recv ||
           o.waiting.kind == wait_kind::select)) {
        for (int i = 0; i < o.waiting.n && !rival; ++i) {
          for (int j = 0; j < ws.n && !rival; ++j) {
            rival = o.waiting.ch[i] == ws.ch[j] && o.waiting.send[i] == ws.send[j];
          }
        }
      }
      if (rival) {
        rivalled.push_back(k);
        break;
      }
    }
  }
  const std::vector<std::size_t>& from = rivalled.empty() ? candidates : rivalled;
  std::size_t k = from[rng() % from.size()];
  const wait_spec& ws = w.actors[owned.index[k]].waiting;
  int j = static_cast<int>(rng() % static_cast<unsigned>(ws.n));
  int c = ws.ch[j];
  if (ws.send[j]) {
    if (std::optional<counted> v = w.ch(c).try_recv()) {
      w.received(*v, c, "try_recv");
    }
  } else {
    int id = w.offer(c);
    counted v(id);
    bool sent = w.ch(c).try_send(v);
    w.values[id].st = sent ? vstate::sent : vstate::failed;
    w.stats.values_sent += sent;
  }
  drop_if_waiting(w, owned, k);
}

/// Takes the mutex (or a permit), starts a child that waits for it, lets go (handing it to
/// the first waiter, often the child) and drops the child before it runs: a lock or permit
/// handed to it must be passed on, not die with it.
bool op_hand_over_and_drop(world& w,
                           int self,
                           std::mt19937& rng,
                           owned_children& owned,
                           bool use_mutex) {
  actor& a = w.actors[self];
  if (a.depth >= max_depth || w.actors.size() > 40) {
    return false;
  }
  wait_kind kind = use_mutex ? wait_kind::lock : wait_kind::acquire;
  call_start start = begin_call(w, self);
  xcoro::result<void> r = [&] {
    waiting_in in(w, self, {.kind = kind});
    return unlocked_call(w, [&] { return use_mutex ? w.mtx.lock() : w.sem.acquire(); });
  }();
  bool canceled = settle(w, self, start, code_of(r), allow_none,
                         use_mutex ? "mutex::lock" : "semaphore::acquire");
  if (!r) {
    return canceled;
  }
  std::size_t k = 0;
  {
    std::optional<critical_section> cs;
    std::optional<permit> held;
    if (use_mutex) {
      cs.emplace(w, self);
    } else {
      held.emplace(w, self);
    }
    int child = w.add_actor(self, false, static_cast<std::uint32_t>(rng()));
    w.actors[child].first = kind;
    auto f = xcoro::xasync(actor_body, &w, child);
    if (!f) {
      w.fail("xasync: " + f.error().message());
      return canceled;
    }
    owned.frames.push_back(std::move(*f));
    owned.index.push_back(child);
    k = owned.frames.size() - 1;
  }  // let go: handed to the first waiter
  drop_if_waiting(w, owned, k);
  return canceled;
}

/// xawait: not interrupted by a cancel; returns once the child has finished.
void await_child(world& w, int self, owned_children& owned, std::size_t k) {
  if (owned.frames[k].status() == xcoro::status::done) {
    owned.frames[k] = {};
    return;
  }
  int child = owned.index[k];
  {
    waiting_in in(w, self, {.kind = wait_kind::await_child, .child = child});
    unlocked_call(w, [&] { xcoro::xawait(owned.frames[k]); });
  }
  if (w.actors[child].running) {
    w.fail(w.name(self) + ": xawait returned before " + w.name(child) + " finished");
  }
  if (xcoro::cancel_requested() != w.actors[self].cancel_flag) {
    w.fail(w.name(self) + " after xawait: cancel_requested() disagrees with the model");
  }
  owned.frames[k] = {};
}

/// One random step of an actor's script; true if a blocking call returned canceled.
bool step(world& w, int self, std::mt19937& rng, owned_children& owned) {
  actor& a = w.actors[self];
  switch (rng() % 24) {
    case 0:
    case 1:
    case 2:
      return op_send(w, self, rng);
    case 3:
    case 4:
    case 5:
      return op_recv(w, self, rng);
    case 6:
    case 7:
      return op_select(w, self, rng);
    case 8:
    case 9:
      return op_lock(w, self, rng);
    case 10:
    case 11:
      return op_acquire(w, self, rng);
    case 12:
      // Only root-started actors wait: the children are what the wait_group counts.
      return a.depth == 0 && op_wg_wait(w, self, rng);
    case 13:
      return op_sleep(w, self, rng, 2);
    case 14:
      return op_sock_write(w, self, rng);
    case 15:
      return op_sock_read(w, self, rng);
    case 16:
    case 17:
      op_start_child(w, self, rng, owned);
      return false;
    case 18:
      op_drop_child(w, rng, owned);
      return false;
    case 19:
      op_serve_and_drop(w, rng, owned);
      return false;
    case 20:
      return op_hand_over_and_drop(w, self, rng, owned, rng() % 2 == 0);
    case 21:
      if (!owned.frames.empty()) {
        await_child(w, self, owned, rng() % owned.frames.size());
      }
      return false;
    case 22:
      // A third coroutine's cancel (or its own), or its starter's.
      if (rng() % 2 == 0) {
        if (int i = w.random_running(); i >= 0) {
          w.cancel_actor(i, w.name(self).c_str());
        }
      } else if (!a.children.empty()) {
        w.cancel_actor(a.children[rng() % a.children.size()], "its starter");
      }
      return false;
    default: {
      // Non-blocking calls, which a cancel never interrupts.
      int c = static_cast<int>(rng() % n_channels);
      if (rng() % 2 == 0) {
        int id = w.offer(c);
        counted v(id);
        bool sent = w.ch(c).try_send(v);
        if (!sent && v.value() != id) {
          w.fail("a failed try_send did not leave the value in place");
        }
        w.values[id].st = sent ? vstate::sent : vstate::failed;
        w.stats.values_sent += sent;
      } else if (std::optional<counted> v = w.ch(c).try_recv()) {
        w.received(*v, c, "try_recv");
      }
      return false;
    }
  }
}

void actor_body(world* wp, int self) {
  world& w = *wp;
  hold_model hold(w);  // first: let go last, after `alive` recorded the end
  life alive(w, self);
  owned_children owned;  // destroyed (its children unwound) before `alive` records the end
  actor& a = w.actors[self];
  std::mt19937 rng(a.seed);
  int steps = a.depth == 0 ? w.opts.steps : w.opts.steps / 2;
  for (int s = 0; s < steps; ++s) {
    if (a.worker != xcoro::this_worker()) {
      // The model knows which worker runs a coroutine to tell local from remote cancels.
      w.fail(w.name(self) + " moved from worker " + std::to_string(a.worker) + " to " +
             std::to_string(xcoro::this_worker()) + ": the model does not know migration");
    }
    if (xcoro::cancel_requested() != a.cancel_flag) {
      w.fail(w.name(self) + ": cancel_requested() disagrees with the model at step " +
             std::to_string(s));
    }
    bool canceled = false;
    if (std::exchange(a.starts_child, false)) {
      op_start_child(w, self, rng, owned);
    } else if (a.first != wait_kind::none) {
      // Started by op_hand_over_and_drop to wait for what its starter holds.
      bool lock = std::exchange(a.first, wait_kind::none) == wait_kind::lock;
      canceled = lock ? op_lock(w, self, rng, true) : op_acquire(w, self, rng, true);
    } else {
      canceled = step(w, self, rng, owned);
    }
    if (canceled && rng() % 2 == 0) {
      break;  // as most code does on errc::canceled
    }
  }
  // Some end waiting, shielded and never destroyed, for a rendezvous that may never come:
  // runs that end in a real deadlock (as often with the more actors of a runtime).
  const auto odds = static_cast<unsigned>(w.workers > 0 ? 4 * w.root_count / w.opts.actors : 4);
  if (a.depth == 0 && rng() % odds == 0) {
    model_shield shield(w, self, true);
    a.last_wait = true;
    op_recv(w, self, rng, true);
    a.last_wait = false;
  }
  // Some leave a child running in the background, one that starts a child of its own: when
  // that grandchild finishes, it switches to its starter, whose latest resumer (this actor)
  // may have finished by then.
  if (a.depth == 0 && rng() % 3 == 0) {
    op_start_child(w, self, rng, owned, true);
  }
  for (std::size_t k = 0; k < owned.frames.size(); ++k) {
    await_child(w, self, owned, k);
  }
}

void check_quiescent(world& w, bool at_deadlock);

void controller_body(world* wp) {
  world& w = *wp;
  hold_model hold(w);
  w.alive_wg.add(1);
  for (int s = 0; s < w.opts.controller_steps; ++s) {
    auto ms = milliseconds(w.rng() % 3);
    if (xcoro::result<void> r = unlocked_call(w, [&] { return aio::sleep(nullptr, ms); }); !r) {
      w.fail("the controller's sleep failed: " + r.error().message());
    }
    // The loop resumes a sleeper straight from its poll, never from the ready queue, so the
    // queue now holds every wake-up not yet run: if it is empty, no waiter may be able to
    // move. (Only on one thread: other workers' queues are not this one.)
    if (w.workers == 0 && w.ex->exec().empty()) {
      ++w.stats.quiescent_checks;
      check_quiescent(w, false);
    }
    switch (w.rng() % 6) {
      case 0:
      case 1:
        if (int i = w.random_running(); i >= 0) {
          w.cancel_actor(i, "the controller");
        }
        break;
      case 2:
        w.destroy_some("the controller");
        break;
      case 3:
        w.post_root_action();
        break;
      default:
        break;
    }
  }
  // Untimed socket reads end now (eof), so that the run cannot wait on them forever.
  w.shut_sockets();
  w.alive_wg.done();
}

// ---------------------------------------------------------------------------------------
// Checks.

/// Whether case `k` of `ws` could proceed now, all else being quiescent.
bool could_proceed(world& w, int self, const wait_spec& ws, int k) {
  int c = ws.ch[k];
  channel<counted>& ch = w.ch(c);
  if (ch.closed()) {
    return true;
  }
  // A rendezvous peer: another actor waiting on the same channel the other way.
  auto peer_waits = [&](bool as_sender) {
    for (const actor& o : w.actors) {
      if (!o.running || o.index == self) {
        continue;
      }
      const wait_spec& os = o.waiting;
      if (os.kind != wait_kind::send && os.kind != wait_kind::recv &&
          os.kind != wait_kind::select) {
        continue;
      }
      for (int j = 0; j < os.n; ++j) {
        if (os.ch[j] == c && os.send[j] == as_sender) {
          return true;
        }
      }
    }
    return false;
  };
  if (ws.send[k]) {
    return capacities[c] > 0 ? ch.size() < capacities[c] : peer_waits(false);
  }
  return ch.size() > 0 || (capacities[c] == 0 && peer_waits(true));
}

/// Checks that no waiting actor could move although no wake-up is queued: a wait that can
/// proceed is signalled at once (its wake-up queued on the executor), so with the ready
/// queue empty, every waiter must be stuck for a reason. Called by the controller when the
/// loop resumed it with nothing queued, and after aio::run reported errc::deadlock
/// (`at_deadlock`), where moreover no timer, deadline or IO may be pending and nobody may
/// hold the mutex or a permit (holders only sleep).
void check_quiescent(world& w, bool at_deadlock) {
  const char* when = at_deadlock ? " at a reported deadlock" : " with nothing queued";
  if (!w.ex->exec().empty()) {
    w.fail(std::string("wake-ups queued") + when);
    return;
  }
  if (at_deadlock) {
    if (w.controller.status() != xcoro::status::done) {
      w.fail("deadlock reported while the controller still runs");
    }
    if (w.mutex_holder != -1) {
      w.fail("deadlock reported while " + w.name(w.mutex_holder) + " holds the mutex");
    }
    if (w.permits_held != 0) {
      w.fail("deadlock reported while permits are held");
    }
  }
  for (actor& a : w.actors) {
    if (!a.running) {
      continue;
    }
    const wait_spec& ws = a.waiting;
    std::string who = w.name(a.index);
    // A cancel withdraws every wait but xawait's (its wake-up is queued at once).
    if (w.pending(a.index) && ws.kind != wait_kind::none && ws.kind != wait_kind::await_child &&
        ws.kind != wait_kind::sleep && ws.kind != wait_kind::sock_read &&
        ws.kind != wait_kind::sock_write) {
      w.fail(who + " still waits (kind " + std::to_string(static_cast<int>(ws.kind)) +
             ") although it was cancelled" + when);
    }
    switch (ws.kind) {
      case wait_kind::none:
        w.fail(who + " is suspended but waits in no call the model knows" + when);
        break;
      case wait_kind::send:
      case wait_kind::recv:
      case wait_kind::select:
        if (ws.timed && at_deadlock) {
          w.fail(who + " waits with a deadline" + when);
        }
        for (int k = 0; k < ws.n; ++k) {
          if (could_proceed(w, a.index, ws, k)) {
            w.fail(who + " waits to " + (ws.send[k] ? "send on" : "receive from") + " channel " +
                   std::to_string(ws.ch[k]) + " (capacity " + std::to_string(capacities[ws.ch[k]]) +
                   ", " + std::to_string(w.ch(ws.ch[k]).size()) + " buffered) although it could" +
                   " proceed" + when + ": a lost wake-up");
          }
        }
        break;
      case wait_kind::lock:
        if (w.mutex_holder == -1) {
          w.fail(who + " waits for a mutex nobody holds" + when + ": a lost wake-up");
        }
        break;
      case wait_kind::acquire:
        if (w.sem.available() > 0) {
          w.fail(who + " waits for a permit while " + std::to_string(w.sem.available()) +
                 " are available" + when + ": a lost wake-up");
        }
        break;
      case wait_kind::wg_wait:
        if (w.wg.count() == 0) {
          w.fail(who + " waits for a wait_group at zero" + when + ": a lost wake-up");
        }
        break;
      case wait_kind::await_child:
        if (!w.actors[ws.child].running) {
          w.fail(who + " awaits " + w.name(ws.child) + ", which has finished" + when);
        }
        break;
      case wait_kind::sleep:
      case wait_kind::sock_read:
      case wait_kind::sock_write:
        if (at_deadlock) {
          w.fail(who + " waits for a timer or IO" + when);
        }
        break;
    }
  }
}

std::string describe_waits(world& w) {
  std::string out;
  for (const actor& a : w.actors) {
    if (a.running) {
      out += "\n  " + w.name(a.index) + " waits in kind " +
             std::to_string(static_cast<int>(a.waiting.kind)) +
             (a.cancel_flag ? ", cancelled" : "") + (a.shields > 0 ? ", shielded" : "");
    }
  }
  return out;
}

/// Prints the seed and aborts if one seed runs far longer than it should: a hang, rather
/// than the test's timeout with no seed to reproduce it.
class watchdog {
 public:
  explicit watchdog(std::chrono::seconds limit) : limit_(limit), thread_([this] { watch(); }) {}
  ~watchdog() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void arm(std::uint32_t seed) {
    std::lock_guard<std::mutex> l(m_);
    seed_ = seed;
    start_ = std::chrono::steady_clock::now();
  }
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

 private:
  void watch() {
    std::unique_lock<std::mutex> l(m_);
    while (!cv_.wait_for(l, 100ms, [this] { return stop_; })) {
      if (std::chrono::steady_clock::now() - start_ > limit_) {
        std::fprintf(stderr, "cancel_model_test: seed %u still runs after %lld s: a hang\n", seed_,
                     static_cast<long long>(limit_.count()));
        std::fflush(stderr);
        std::abort();
      }
    }
  }

  std::chrono::seconds limit_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::uint32_t seed_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::thread thread_;
};

/// Releases the world-owned frames of the actors that ran on `worker` (all of them on one
/// thread: -1), each of which must have finished; on a runtime a pinned one's frame is freed
/// on its own worker, and a spawned one's once xawait saw it finish (its worker tells
/// awaiters after it left the stack).
void release_frames(world& w, int worker) {
  for (actor& a : w.actors) {
    if (!a.world_owned || a.frame.frame() == nullptr || (w.workers > 0 && a.worker != worker)) {
      continue;
    }
    if (a.running || a.finished == a.unwound) {
      w.fail(w.name(a.index) + " did not finish exactly once");
    }
    if (a.spawned) {
      unlocked_call(w, [&] { xcoro::xawait(a.frame); });
    } else if (a.frame.status() != xcoro::status::done) {
      w.fail(w.name(a.index) + "'s frame_t is not done");
    }
    a.frame = {};
  }
}

/// After the last run: every coroutine finished, the sync objects are back where they
/// started, and after draining what is left no value was lost.
void check_end(world& w) {
  // Every coroutine finished, or was unwound by its owner.
  for (actor& a : w.actors) {
    if (a.running || a.finished == a.unwound) {
      w.fail(w.name(a.index) + " did not finish exactly once");
    }
    if (a.frame.frame() != nullptr) {
      w.fail(w.name(a.index) + "'s frame_t was not released");
    }
  }
  // Sync state restored.
  if (w.mutex_holder != -1 || w.in_critical != 0 || !w.mtx.try_lock()) {
    w.fail("the mutex is not free at the end");
  } else {
    w.mtx.unlock();
  }
  if (w.permits_held != 0 || w.sem.available() != n_permits) {
    w.fail("the semaphore has " + std::to_string(w.sem.available()) + " of " +
           std::to_string(n_permits) + " permits at the end");
  }
  if (w.wg.count() != 0 || w.alive_wg.count() != 0) {
    w.fail("a wait_group is not at zero at the end");
  }
  // Drain what is left: channels (values given back by unwound receivers included) and
  // sockets.
  for (int k = 0; k < n_channels; ++k) {
    while (std::optional<counted> v = w.ch(k).try_recv()) {
      w.received(*v, k, "drain");
    }
  }
  const int n_sets = static_cast<int>(w.pairs.size());
  std::vector<int> sent_on(static_cast<std::size_t>(n_sets * n_pairs));
  std::vector<int> got_on(sent_on.size());
  for (int set = 0; set < n_sets; ++set) {
    for (int p = 0; p < n_pairs; ++p) {
      if (!w.pairs[set][p].r) {
        continue;
      }
      std::array<std::byte, 2 * message_size> buf{};
      for (;;) {
        ssize_t n =
            ::recv(w.pairs[set][p].r->native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n <= 0) {
          break;
        }
        std::uint64_t id = 0;
        std::memcpy(&id, buf.data(), sizeof id);
        w.received(static_cast<int>(id), world::socket_where_of(set, p), "socket drain");
      }
    }
  }
  // No value lost, none received twice (checked on receipt), none received that was not
  // sent; a socket message may be missing only where a reader was unwound mid-read.
  for (std::size_t id = 1; id < w.values.size(); ++id) {
    const value_info& v = w.values[id];
    bool socket = v.where >= socket_where;
    switch (v.st) {
      case vstate::offered:
        w.fail("value " + std::to_string(id) + " is still being offered at the end");
        break;
      case vstate::sent:
        if (socket) {
          ++sent_on[static_cast<std::size_t>(v.where - socket_where)];
          got_on[static_cast<std::size_t>(v.where - socket_where)] += v.received;
        } else if (v.received != 1) {
          w.fail("value " + std::to_string(id) + " sent on channel " + std::to_string(v.where) +
                 " was lost");
        }
        break;
      case vstate::failed:
      case vstate::maybe:
        break;
    }
  }
  for (int set = 0; set < n_sets; ++set) {
    for (int p = 0; p < n_pairs; ++p) {
      auto k = static_cast<std::size_t>(set * n_pairs + p);
      if (sent_on[k] - got_on[k] > w.pairs[set][p].destroyed_reading) {
        w.fail("socket pair " + std::to_string(p) + " of set " + std::to_string(set) + ": " +
               std::to_string(sent_on[k]) + " messages written, " + std::to_string(got_on[k]) +
               " read, and only " + std::to_string(w.pairs[set][p].destroyed_reading) +
               " readers unwound mid-read");
      }
    }
  }
}

/// Reports a seed's errors, and checks the counted values once the world is gone: every
/// one destroyed, each exactly once.
void report_seed(std::uint32_t seed, std::vector<std::string> errors, model_stats& stats) {
  if (ledger().live() != 0 || ledger().twice != 0 || ledger().dead_use != 0) {
    errors.push_back("counted values: " + std::to_string(ledger().live()) + " leaked, " +
                     std::to_string(ledger().twice.load()) + " destroyed twice, " +
                     std::to_string(ledger().dead_use.load()) + " used after destruction");
  }
  ++stats.seeds;
  for (const std::string& e : errors) {
    ADD_FAILURE() << "seed " << seed << ": " << e;
  }
}

/// One seed: run until everything finished or deadlocked (checked as real), then close the
/// channels, cancel everyone and run again, which must finish; then drain and check.
void run_seed(aio::executor* ex,
              std::uint32_t seed,
              const model_options& opts,
              model_stats& stats) {
  ledger().reset();
  std::vector<std::string> errors;
  {
    world w(ex, seed, opts, stats);
    hold_model hold(w);  // one thread: never contended
    for (int i = 0; i < opts.actors; ++i) {
      int idx = w.add_actor(-1, true, seed * 1000u + static_cast<std::uint32_t>(i));
      auto f = xcoro::xasync(actor_body, &w, idx);
      if (!f) {
        ADD_FAILURE() << "seed " << seed << ": xasync: " << f.error().message();
        return;
      }
      w.actors[idx].frame = std::move(*f);
    }
    auto c = xcoro::xasync(controller_body, &w);
    if (!c) {
      ADD_FAILURE() << "seed " << seed << ": xasync: " << c.error().message();
      return;
    }
    w.controller = std::move(*c);

    // Phase 1: as the scripts go. Actors left waiting on a channel nobody serves are a
    // real deadlock, which aio::run must report (not spin), and which must be real.
    xcoro::result<void> first =
        unlocked_call(w, [&] { return aio::run(ex, [&w] { return w.alive_wg.wait(); }); });
    if (!first) {
      if (first.error() != xcoro::errc::deadlock) {
        w.fail("the first run failed: " + first.error().message());
      } else {
        ++stats.deadlocks;
        check_quiescent(w, true);
      }
    }
    if (w.controller.status() != xcoro::status::done) {
      w.fail("the controller did not finish");
    }

    // Phase 2: close everything and cancel everyone still running; this must finish.
    w.closed = true;
    for (int k = 0; k < n_channels; ++k) {
      w.ch(k).close();
    }
    w.shut_sockets();
    for (std::size_t i = 0; i < w.actors.size(); ++i) {
      w.cancel_actor(static_cast<int>(i), "root");
    }
    xcoro::result<void> second =
        unlocked_call(w, [&] { return aio::run(ex, [&w] { return w.alive_wg.wait(); }); });
    if (!second) {
      w.fail("after close and cancel, the run did not finish: " + second.error().message() +
             describe_waits(w));
    }
    release_frames(w, -1);
    w.controller = {};
    check_end(w);
    if (w.root_queued) {
      ex->exec().cancel(w.root_node);  // the test's own, not a stale wake-up
      w.root_queued = false;
    }
    if (!ex->exec().empty()) {
      w.fail("wake-ups left queued after every coroutine finished");
    }
    errors = std::move(w.errors);
  }
  report_seed(seed, std::move(errors), stats);
}

// ---------------------------------------------------------------------------------------
// The model on a runtime.

/// Starts an actor: pinned to this worker (xasync, eagerly), or spawned (any worker may
/// start it).
void start_actor(world& w, int idx) {
  actor& a = w.actors[idx];
  auto f = a.spawned ? xcoro::spawn(actor_body, &w, idx) : xcoro::xasync(actor_body, &w, idx);
  if (!f) {
    w.fail("starting " + w.name(idx) + ": " + f.error().message());
    return;
  }
  w.actors[idx].frame = std::move(*f);
}

/// Phase 1 of host `k`, on its own worker: starts its share of the root-started actors (host
/// 0 also the controller) and waits for every coroutine to finish.
void host_start(world* wp, int k) {
  world& w = *wp;
  hold_model hold(w);
  w.host_worker[static_cast<std::size_t>(k)] = xcoro::this_worker();
  for (int i = 0; i < w.root_count; ++i) {
    if (w.actors[i].host == k) {
      start_actor(w, i);
    }
  }
  if (k == 0) {
    w.ex = aio::get_env().executor;  // root actions run on the controller's worker
    w.controller_worker = xcoro::this_worker();
    auto c = xcoro::xasync(controller_body, &w);
    if (!c) {
      w.fail("xasync: " + c.error().message());
    } else {
      w.controller = std::move(*c);
    }
  }
  w.alive_wg.done();  // the host's own count, taken before any host started
  if (xcoro::result<void> r = unlocked_call(w, [&] { return w.alive_wg.wait(); }); !r) {
    w.fail("a host's wait failed: " + r.error().message());
  }
}

/// Phase 2 of a host: closes everything, cancels what still runs on its worker, waits for
/// every coroutine to finish and releases the frames of its worker's actors.
void host_finish(world* wp, int k) {
  world& w = *wp;
  hold_model hold(w);
  const int me = xcoro::this_worker();
  if (!w.closed) {
    w.closed = true;
    for (int c = 0; c < n_channels; ++c) {
      w.ch(c).close();
    }
  }
  w.shut_sockets();
  for (std::size_t i = 0; i < w.actors.size(); ++i) {
    if (w.actors[i].worker == me) {
      w.cancel_actor(static_cast<int>(i), "a host");
    }
  }
  if (xcoro::result<void> r = unlocked_call(w, [&] { return w.alive_wg.wait(); }); !r) {
    w.fail("after close and cancel, the run did not finish: " + r.error().message() +
           describe_waits(w));
    return;
  }
  release_frames(w, me);
  if (me == w.controller_worker) {
    if (w.controller.status() != xcoro::status::done) {
      w.fail("the controller's frame_t is not done");
    }
    w.controller = {};
    if (w.root_queued) {
      w.ex->exec().cancel(w.root_node);
      w.root_queued = false;
    }
  }
  (void)k;
}

/// Runs `body(&w, k)` in a block_on from one thread per worker, k = 0..n-1: concurrent
/// calls go to the workers in turn, one each. The error of each, if any.
std::vector<std::error_code> on_every_worker(xcoro::runtime& rt,
                                             world& w,
                                             void (*body)(world*, int)) {
  const auto n = static_cast<int>(rt.threads());
  std::vector<std::error_code> out(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int k = 0; k < n; ++k) {
    threads.emplace_back([&, k] {
      if (xcoro::result<void> r = rt.block_on(body, &w, k); !r) {
        out[static_cast<std::size_t>(k)] = r.error();
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  return out;
}

/// One seed on a runtime, in the phases of run_seed: the hosts run the scripts until every
/// coroutine finished or the runtime reports a deadlock (checked as real); then they close
/// and cancel, and everything must finish; then the checks run on a worker.
void run_seed_on(xcoro::runtime& rt,
                 std::uint32_t seed,
                 const model_options& opts,
                 model_stats& stats) {
  ledger().reset();
  const auto n = static_cast<int>(rt.threads());
  std::optional<world> wo;
  std::vector<std::string> errors;
  // Made on a worker, so that its channels and sync objects are shared by the workers.
  auto made = rt.block_on([&] {
    world& w = wo.emplace(nullptr, seed, opts, stats, n);
    hold_model hold(w);
    w.root_count = std::max(opts.actors, n + 4);
    w.host_worker.assign(static_cast<std::size_t>(n), -1);
    for (int i = 0; i < w.root_count; ++i) {
      int idx = w.add_actor(-1, true, seed * 1000u + static_cast<std::uint32_t>(i));
      w.actors[idx].host = i % n;
      // Each host's first actor stays on its worker, so that every worker runs some.
      w.actors[idx].spawned = i >= n && w.rng() % 2 == 0;
    }
    w.alive_wg.add(n);  // the hosts, until they started their actors
  });
  if (!made) {
    ADD_FAILURE() << "seed " << seed << ": block_on: " << made.error().message();
    return;
  }
  world& w = *wo;

  std::vector<std::error_code> first = on_every_worker(rt, w, host_start);
  int deadlocked = 0;
  for (std::error_code ec : first) {
    if (ec == xcoro::errc::deadlock) {
      ++deadlocked;
    } else if (ec) {
      hold_model hold(w);
      w.fail("a host's first run failed: " + ec.message());
    }
  }
  auto checked = rt.block_on([&] {
    hold_model hold(w);
    std::vector<int> seen = w.host_worker;
    std::sort(seen.begin(), seen.end());
    if (std::unique(seen.begin(), seen.end()) != seen.end() || seen.front() < 0) {
      w.fail("the hosts did not run one on each worker");
    }
    if (deadlocked != 0) {
      if (deadlocked != n) {
        w.fail(std::to_string(deadlocked) + " of " + std::to_string(n) +
               " hosts saw a deadlock: all or none must");
      }
      // Every worker is idle: every posted cancel has run.
      ++stats.deadlocks;
      w.land_remote_cancels(true);
      check_quiescent(w, true);
    }
  });
  if (!checked) {
    ADD_FAILURE() << "seed " << seed << ": block_on: " << checked.error().message();
  }

  std::vector<std::error_code> second = on_every_worker(rt, w, host_finish);
  bool stuck = false;
  for (std::error_code ec : second) {
    if (ec) {
      stuck = true;
      hold_model hold(w);
      w.fail("a host's last run failed: " + ec.message() + describe_waits(w));
    }
  }
  if (stuck) {
    // Coroutines are left suspended on workers, where only their own worker could destroy
    // them: report and stop rather than crash.
    for (const std::string& e : w.errors) {
      std::fprintf(stderr, "cancel_model_test: seed %u on %d workers: %s\n", seed, n, e.c_str());
    }
    std::fflush(stderr);
    std::abort();
  }
  auto ended = rt.block_on([&] {
    {
      hold_model hold(w);
      check_end(w);
      errors = std::move(w.errors);
    }
    wo.reset();  // on a worker: its sockets were used by the workers' loops
  });
  if (!ended) {
    ADD_FAILURE() << "seed " << seed << ": block_on: " << ended.error().message();
  }
  report_seed(seed, std::move(errors), stats);
}

/// Seeds for this build. Most of a seed's time is its sleeps and deadlines, so sanitizers
/// and Valgrind cost little; an emulator costs more. XCORO_MODEL_SEEDS and
/// XCORO_MODEL_FIRST_SEED choose others (to repeat a failing seed, or to run many).
std::uint32_t env_number(const char* name, std::uint32_t otherwise) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10))
                                     : otherwise;
}

std::uint32_t seed_count(std::uint32_t usual, std::uint32_t emulated) {
  return env_number("XCORO_MODEL_SEEDS", xcoro_test::emulated ? emulated : usual);
}

std::uint32_t first_seed() {
  return env_number("XCORO_MODEL_FIRST_SEED", 1);
}

/// Runs `count` seeds from first_seed(), one call of `run(seed)` each, under a watchdog.
template <class Run>
void run_seeds(std::uint32_t count, Run&& run) {
  bool slow = under_valgrind() || xcoro_test::sanitized || xcoro_test::emulated;
  watchdog dog(std::chrono::seconds(slow ? 120 : 20));
  for (std::uint32_t seed = first_seed(); seed < first_seed() + count; ++seed) {
    dog.arm(seed);
    run(seed);
  }
}

void print_stats(const model_stats& stats) {
  std::printf(
      "seeds %ld: cancels %ld (to another worker %ld, seen landing %ld), canceled while "
      "waiting %ld / on entry %ld, shielded calls %ld, timeouts %ld, destroyed %ld, root "
      "actions %ld, values sent %ld / received %ld, socket messages %ld, deadlocks %ld, "
      "quiescent checks %ld, destroyed satisfied %ld, after handing %ld, spawned %ld\n",
      stats.seeds, stats.cancels, stats.remote_cancels, stats.remote_landed,
      stats.canceled_while_waiting, stats.canceled_on_entry, stats.shielded_calls,
      stats.timeouts, stats.destroyed, stats.root_actions, stats.values_sent,
      stats.values_received, stats.socket_messages, stats.deadlocks, stats.quiescent_checks,
      stats.destroyed_satisfied, stats.destroyed_after_handing, stats.spawned);
}

TEST_F(CancelModel, RandomizedAgainstModel) {
  model_stats stats;
  std::uint32_t count = seed_count(100, 30);
  run_seeds(count, [&](std::uint32_t seed) { run_seed(ex(), seed, model_options{}, stats); });
  // The seeds still exercise what the test is about.
  EXPECT_EQ(stats.seeds, static_cast<long>(count));
  if (count >= 20) {
    EXPECT_GT(stats.cancels, 4 * stats.seeds);
    EXPECT_GT(stats.canceled_while_waiting, stats.seeds);
    EXPECT_GT(stats.canceled_on_entry, stats.seeds);
    EXPECT_GT(stats.shielded_calls, stats.seeds);
    EXPECT_GT(stats.timeouts, stats.seeds);
    EXPECT_GT(stats.destroyed, 2 * stats.seeds);
    EXPECT_GT(stats.destroyed_after_handing, stats.seeds);
    EXPECT_GT(stats.root_actions, stats.seeds);
    EXPECT_GT(stats.values_received, 10 * stats.seeds);
    EXPECT_GT(stats.socket_messages, stats.seeds);
    EXPECT_GT(stats.deadlocks, 0);
    EXPECT_GT(stats.quiescent_checks, 5 * stats.seeds);
    EXPECT_LT(stats.deadlocks, stats.seeds) << "some runs must finish without a deadlock";
  }
  print_stats(stats);
}

/// The model on a runtime of GetParam() workers, on the backend XCORO_BACKEND names.
class CancelModelOnWorkers : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    if (auto l = aio::loop::create(); !l) {
      GTEST_SKIP() << "backend unavailable here: " << l.error().message();
    }
  }
};

TEST_P(CancelModelOnWorkers, RandomizedAgainstModel) {
  xcoro::runtime_options o;
  o.threads = GetParam();
  auto rt = xcoro::runtime::create(o);
  ASSERT_TRUE(rt) << rt.error().message();
  model_stats stats;
  std::uint32_t count = seed_count(20, 6);
  run_seeds(count, [&](std::uint32_t seed) {
    run_seed_on(*rt, seed, model_options{}, stats);
    if (::testing::Test::HasFailure()) {
      std::printf("to repeat: XCORO_MODEL_FIRST_SEED=%u XCORO_MODEL_SEEDS=1\n", seed);
    }
  });
  EXPECT_EQ(stats.seeds, static_cast<long>(count));
  if (count >= 20) {
    // Cancels, wake-ups and destructions crossed workers, and everything the one-thread
    // run exercises still happens (no quiescence checks: a worker sees only its own queue).
    EXPECT_GT(stats.cancels + stats.remote_cancels, 4 * stats.seeds);
    EXPECT_GT(stats.cancels, stats.seeds);
    EXPECT_GT(stats.remote_cancels, stats.seeds);
    EXPECT_GT(stats.remote_landed, stats.seeds / 2);
    EXPECT_GT(stats.canceled_while_waiting, stats.seeds);
    EXPECT_GT(stats.canceled_on_entry, stats.seeds);
    EXPECT_GT(stats.shielded_calls, stats.seeds);
    EXPECT_GT(stats.timeouts, stats.seeds);
    EXPECT_GT(stats.destroyed, stats.seeds);
    EXPECT_GT(stats.root_actions, stats.seeds);
    EXPECT_GT(stats.values_received, 10 * stats.seeds);
    EXPECT_GT(stats.socket_messages, stats.seeds);
    EXPECT_GT(stats.spawned, stats.seeds);
    EXPECT_LT(stats.deadlocks, stats.seeds) << "some runs must finish without a deadlock";
  }
  print_stats(stats);
}

INSTANTIATE_TEST_SUITE_P(Workers,
                         CancelModelOnWorkers,
                         ::testing::Values(2u, 8u),
                         [](const auto& info) { return std::to_string(info.param) + "workers"; });

// ---------------------------------------------------------------------------------------
// The bugs the model found, minimised: each failed every time before its fix.

/// Pumps the loop a bounded number of times (a lost wake-up must fail, not hang).
void pump(aio::executor* ex) {
  for (int i = 0; i < 100 && ex->tick(); ++i) {
  }
}

// Two coroutines wait to receive from a buffered channel; a send signals the first (its
// wake-up is queued), which is then destroyed before it runs. It must pass its turn on:
// the value is buffered, and the second must get it. (It used to take the wake-up with it,
// so the second slept until some later operation on the channel happened to wake it.)
TEST_F(CancelModel, ASignalledReceiverDestroyedBeforeItRanPassesItsTurnOn) {
  ledger().reset();
  channel<counted> ch({.capacity = 1});
  std::optional<counted> got;
  {
    auto first = xcoro::xasync([&] { (void)ch.recv(); });
    ASSERT_TRUE(first);
    auto second = xcoro::xasync([&] { got = ch.recv(); });
    ASSERT_TRUE(second);
    counted v(1);
    ASSERT_TRUE(ch.try_send(v));  // signals `first`
    *first = {};                  // destroyed before it ran
    pump(ex());
    EXPECT_TRUE(got.has_value()) << "the second receiver sleeps while a value is buffered";
    EXPECT_EQ(ch.size(), 0u);
    ch.close();  // wakes `second` either way, so the test can end
    pump(ex());
    EXPECT_EQ(second->status(), xcoro::status::done);
  }
  got.reset();
  EXPECT_EQ(ledger().live(), 0);
}

// The same for senders: a receive makes room and signals the first waiting sender, which
// is destroyed before it runs; the second must get the room.
TEST_F(CancelModel, ASignalledSenderDestroyedBeforeItRanPassesItsTurnOn) {
  ledger().reset();
  channel<counted> ch({.capacity = 1});
  bool sent = false;
  {
    counted v(1);
    ASSERT_TRUE(ch.try_send(v));  // full
    auto first = xcoro::xasync([&] { (void)ch.send(counted(2)); });
    ASSERT_TRUE(first);
    auto second = xcoro::xasync([&] { sent = ch.send(counted(3)).has_value(); });
    ASSERT_TRUE(second);
    EXPECT_TRUE(ch.try_recv().has_value());  // room: signals `first`
    *first = {};                             // destroyed before it ran
    pump(ex());
    EXPECT_TRUE(sent) << "the second sender sleeps while the buffer has room";
    ch.close();
    pump(ex());
    EXPECT_EQ(second->status(), xcoro::status::done);
    while (ch.try_recv()) {
    }
  }
  EXPECT_EQ(ledger().live(), 0);
}

// And for select: one signalled through a buffered recv case, destroyed before it runs,
// passes the turn on to the channel's next receiver.
TEST_F(CancelModel, ASignalledSelectDestroyedBeforeItRanPassesItsTurnOn) {
  ledger().reset();
  channel<counted> ch({.capacity = 4});
  channel<counted> other({.capacity = 0});
  std::optional<counted> got;
  {
    auto first = xcoro::xasync([&] {
      std::optional<counted> a, b;
      (void)xcoro::select(xcoro::recv_case(other, a), xcoro::recv_case(ch, b));
    });
    ASSERT_TRUE(first);
    auto second = xcoro::xasync([&] { got = ch.recv(); });
    ASSERT_TRUE(second);
    counted v(1);
    ASSERT_TRUE(ch.try_send(v));  // signals `first`'s select
    *first = {};
    pump(ex());
    EXPECT_TRUE(got.has_value()) << "the receiver sleeps while a value is buffered";
    ch.close();
    pump(ex());
    EXPECT_EQ(second->status(), xcoro::status::done);
  }
  got.reset();
  EXPECT_EQ(ledger().live(), 0);
}

// A coroutine finishing switches to its starter (zigcoro's rule). The starter's own latest
// resumer may have finished meanwhile (here: the coroutine that started the starter, which
// then returned); the starter must then go back to whoever resumed the finishing child
// (here root, through the executor), not to that finished resumer. It used to: if it was
// suspended in a wait, it took the switch for a spurious wake-up and suspended again, and
// xsuspend aborted ("cannot suspend: the coroutine that resumed it has finished"); if it
// was awaiting the child, it went on to finish, and finish() aborted ("finished but the
// coroutine it returns to has finished too"); had the finished resumer's frame_t been
// destroyed, both would have read its freed record. The model hit it once a child that
// outlives its starter (its frame_t kept elsewhere) started children of its own. Run in a
// child process, so that a regression fails the test rather than the whole program.
/// Exits with 0 if the child finished.
[[noreturn]] void starter_woken_by_its_child() {
  xcoro::executor ex;
  channel<int> parked({.capacity = 1, .executor = &ex});
  channel<int> wake({.capacity = 1, .executor = &ex});
  xcoro::frame_t<void> child, grandchild;
  auto starter = xcoro::xasync([&] {
    auto c = xcoro::xasync([&] {
      auto g = xcoro::xasync([&] { (void)wake.recv(); });  // back to `child`
      grandchild = std::move(*g);
      (void)parked.recv();  // back to `starter`, its latest resumer
    });
    child = std::move(*c);
  });  // `starter` returns; `child` outlives it
  int v = 1;
  (void)wake.try_send(v);
  while (ex.tick()) {  // `grandchild` finishes and switches to `child`, which suspends
  }
  parked.close();
  while (ex.tick()) {
  }
  std::exit(child.status() == xcoro::status::done ? 0 : 1);
}

TEST(CancelModelDeathTest, AStarterWokenByItsFinishingChildDoesNotGoBackToAFinishedResumer) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_EXIT(starter_woken_by_its_child(), ::testing::ExitedWithCode(0), "");
}

/// The same through xawait; exits with 0 if the child finished.
[[noreturn]] void awaiting_starter_finishes_to_a_finished_resumer() {
  xcoro::executor ex;
  channel<int> wake({.capacity = 1, .executor = &ex});
  xcoro::frame_t<void> child;
  auto starter = xcoro::xasync([&] {
    auto c = xcoro::xasync([&] {
      auto g = xcoro::xasync([&] { (void)wake.recv(); });  // back to `child`
      xcoro::xawait(*g);                                   // back to `starter`, its latest resumer
    });
    child = std::move(*c);
  });  // `starter` returns; `child` outlives it
  int v = 1;
  (void)wake.try_send(v);
  while (ex.tick()) {  // the grandchild finishes into `child`, which finishes in turn
  }
  std::exit(child.status() == xcoro::status::done ? 0 : 1);
}

TEST(CancelModelDeathTest, AnAwaitingStarterDoesNotFinishIntoAFinishedResumer) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_EXIT(awaiting_starter_finishes_to_a_finished_resumer(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
