// xcoro-channel-bench: channel figures for xcoro beside Boost.Fiber and Go, in one run and
// on one OS thread. (1) Ping-pong over two channels of capacity 0 (rendezvous), 1 and 64,
// interleaving xcoro, Boost.Fiber and the Go peer (bench/peers/pingpong.go), with medians
// and ratios of medians. (2) N = 10^3..10^6 coroutines passing through one channel, to show
// that the cost per message stays flat, beside N Boost.Fiber fibers and N goroutines doing
// the same up to --peer-max-n. (3) xawait_all over 10,000 frames, beside fibers joined one
// by one and goroutines waited for with a sync.WaitGroup.
#include <sys/resource.h>

#include <algorithm>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xcoro/channel.hpp"
#include "bench_support.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"

#ifndef XCORO_GO_PEER
#define XCORO_GO_PEER ""
#endif

namespace {

using namespace xcoro_bench;

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Peak resident set of the whole process so far, in MiB (ru_maxrss is in KiB on Linux).
double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// The peak since the last reset_rss_peak() (VmHWM), in MiB; ru_maxrss cannot be reset, and a
// row of the scaling table should show its own peak, not that of an earlier, larger N.
double rss_peak_since_reset_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
    }
  }
  return peak_rss_mib();
}

// Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS.
void reset_rss_peak() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

struct options {
  std::size_t repeat = 5;
  std::size_t messages = 1000000;  // one-way messages per ping-pong run
  std::size_t max_n = 1000000;     // the largest N of the scaling table
  std::size_t peer_max_n = 100000;  // the largest N the peers run in the scaling table
  std::size_t section = 0;          // 1, 2 or 3: run only that section; 0: all three
  std::string go_peer = XCORO_GO_PEER;
};

void print_usage(std::FILE* out) {
  std::fputs(
      "Usage: xcoro-channel-bench [--repeat 5] [--messages 1000000] [--max-n 1000000]\n"
      "                           [--peer-max-n 100000] [--go-peer PATH|none]\n"
      "                           [--section 1|2|3]\n"
      "  --section N  runs only section N (1 ping-pong, 2 scaling, 3 xawait_all)\n",
      out);
}

// Returns the exit code when the program should stop (help: 0, bad usage: 2), else -1.
int parse_args(int argc, char** argv, options& o) {
  return parse_pairs(argc, argv, print_usage, [&](std::string_view a, const char* v) {
    if (a == "--go-peer") {
      o.go_peer = std::string_view(v) == "none" ? "" : v;
      return true;
    }
    unsigned long long n = count_arg(v);
    if (n == 0) {
      return false;
    }
    if (a == "--repeat") {
      o.repeat = n;
    } else if (a == "--messages") {
      o.messages = std::max<std::size_t>(n, 2);
    } else if (a == "--max-n") {
      o.max_n = n;
    } else if (a == "--peer-max-n") {
      o.peer_max_n = n;
    } else if (a == "--section" && n <= 3) {
      o.section = n;
    } else {
      return false;
    }
    return true;
  });
}

// ---------------------------------------------------------------------------------------
// 1. Ping-pong. A message is one value sent one way (one send and its recv); A sends to B
// over `ab` and B sends it back over `ba`, so a round trip is two messages.

// xcoro: the two coroutines are woken through one executor that root drains, which is how
// channels are meant to be driven (docs/executor.md).
double xcoro_ping_pong(std::size_t capacity, std::size_t messages) {
  xcoro::executor ex;
  xcoro::channel<std::size_t> ab({.capacity = capacity, .executor = &ex});
  xcoro::channel<std::size_t> ba({.capacity = capacity, .executor = &ex});
  std::size_t rounds = messages / 2;
  std::size_t sum = 0;
  auto t0 = clock_type::now();
  auto a = take(xcoro::xasync([&] {
                  for (std::size_t i = 0; i < rounds; ++i) {
                    (void)ab.send(i);
                    sum += *ba.recv();
                  }
                }),
                "xasync failed");
  auto b = take(xcoro::xasync([&] {
                  for (std::size_t i = 0; i < rounds; ++i) {
                    (void)ba.send(*ab.recv());
                  }
                }),
                "xasync failed");
  while (ex.tick()) {
  }
  double s = seconds_since(t0);
  if (a.status() != xcoro::status::done || b.status() != xcoro::status::done ||
      sum != rounds * (rounds - 1) / 2) {
    fail("xcoro ping-pong did not complete");
  }
  return s * 1e9 / static_cast<double>(rounds * 2);
}

// Boost.Fiber: two fibers on the main thread under the default round_robin scheduler. Its
// channels lock with spinlocks because they may be shared between threads; that is part of
// what it costs.
template <class Channel>
double fiber_ping_pong(Channel& ab, Channel& ba, std::size_t messages) {
  std::size_t rounds = messages / 2;
  std::size_t sum = 0;
  auto t0 = clock_type::now();
  boost::fibers::fiber a([&] {
    for (std::size_t i = 0; i < rounds; ++i) {
      ab.push(i);
      std::size_t v = 0;
      ba.pop(v);
      sum += v;
    }
  });
  boost::fibers::fiber b([&] {
    for (std::size_t i = 0; i < rounds; ++i) {
      std::size_t v = 0;
      ab.pop(v);
      ba.push(v);
    }
  });
  a.join();
  b.join();
  double s = seconds_since(t0);
  if (sum != rounds * (rounds - 1) / 2) {
    fail("Boost.Fiber ping-pong did not complete");
  }
  return s * 1e9 / static_cast<double>(rounds * 2);
}

// Capacity 0 is boost::fibers::unbuffered_channel. buffered_channel(c) wants a power of
// two >= 2 and holds c - 1 values, so capacity 1 is buffered_channel(2) (exactly one
// value) and capacity 64 is buffered_channel(64) (63 values; a ping-pong never has more
// than one in flight).
double boost_ping_pong(std::size_t capacity, std::size_t messages) {
  if (capacity == 0) {
    boost::fibers::unbuffered_channel<std::size_t> ab, ba;
    return fiber_ping_pong(ab, ba, messages);
  }
  std::size_t slots = capacity == 1 ? 2 : capacity;
  boost::fibers::buffered_channel<std::size_t> ab(slots), ba(slots);
  return fiber_ping_pong(ab, ba, messages);
}

// Go: the peer program times itself (after a warm-up of its own) and prints ns per one-way
// message; process start-up is outside its timing. Returns a negative value on failure.
double go_peer(const std::string& peer, const std::string& args) {
  std::string quoted = "'";
  for (char ch : peer) {
    quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  }
  quoted += "'";
  std::string cmd = "GOMAXPROCS=1 " + quoted + " " + args;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return -1;
  }
  double ns = -1;
  if (std::fscanf(p, "%lf", &ns) != 1) {
    ns = -1;
  }
  return pclose(p) == 0 ? ns : -1;
}

double go_ping_pong(const std::string& peer, std::size_t capacity, std::size_t messages) {
  return go_peer(peer, "-cap " + std::to_string(capacity) + " -n " + std::to_string(messages));
}

bool go_available(const options& o) {
  return !o.go_peer.empty() && std::ifstream(o.go_peer).good();
}

void run_ping_pong(const options& o) {
  bool go = go_available(o);
  std::printf("== 1. ping-pong: ns per one-way message (one send + its recv; a round trip is 2)\n");
  std::printf("   median of %zu runs of %zu messages; xcoro, Boost.Fiber and Go interleaved\n",
              o.repeat, o.messages / 2 * 2);
  std::printf("   xcoro: 2 coroutines woken through an xcoro::executor that root drains\n");
  std::printf("   boost: 2 fibers on the main thread, round_robin scheduler\n");
  if (go) {
    std::printf("   go:    2 goroutines, GOMAXPROCS=1 (%s)\n", o.go_peer.c_str());
  } else {
    std::printf("   go:    peer not available (%s); go columns are n/a\n",
                o.go_peer.empty() ? "not built" : o.go_peer.c_str());
  }
  std::printf("%-44s %8s %8s %8s %11s %9s\n", "capacity", "xcoro", "boost", "go",
              "xcoro/boost", "xcoro/go");
  struct row {
    std::size_t capacity;
    const char* label;
  };
  const row rows[] = {
      {0, "unbuffered (boost: unbuffered_channel)"},
      {1, "1 (boost: buffered_channel(2), holds 1)"},
      {64, "64 (boost: buffered_channel(64), holds 63)"},
  };
  for (const row& r : rows) {
    // Warm-up: first-touch of stacks and pools is not what is measured.
    xcoro_ping_pong(r.capacity, o.messages / 10 + 2);
    boost_ping_pong(r.capacity, o.messages / 10 + 2);
    std::vector<double> x, b, g;
    for (std::size_t i = 0; i < o.repeat; ++i) {
      x.push_back(xcoro_ping_pong(r.capacity, o.messages));
      b.push_back(boost_ping_pong(r.capacity, o.messages));
      if (go) {
        double ns = go_ping_pong(o.go_peer, r.capacity, o.messages);
        if (ns > 0) {
          g.push_back(ns);
        }
      }
    }
    double xm = median(x);
    double bm = median(b);
    std::printf("%-44s %8.1f %8.1f", r.label, xm, bm);
    if (!g.empty()) {
      double gm = median(g);
      std::printf(" %8.1f %11.2f %9.2f\n", gm, xm / bm, xm / gm);
    } else {
      std::printf(" %8s %11.2f %9s\n", "n/a", xm / bm, "n/a");
    }
  }
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------
// 2. Scaling: N coroutines pass through one channel of capacity 64. Both directions:
// N senders with one value each and one receiver, then N receivers and one sender. If any
// queue were walked per message, ns/msg would grow with N.

// 16 KiB owned stacks from the default pooled allocator: only the pages a coroutine touches
// (its top page) cost memory, so 10^6 of them stay within a few GiB.
constexpr std::size_t scale_stack = 16 * 1024;

struct phase_times {
  double spawn = 0;  // xasync of all N coroutines (each runs until it blocks or finishes)
  double drain = 0;  // root's tick() loop until every value has been received
  double free = 0;   // destroying the frames (stacks go back to the pool)
  double total() const { return spawn + drain + free; }
};

phase_times scale_senders(std::size_t n) {
  phase_times t;
  xcoro::executor ex;
  xcoro::channel<std::size_t> ch({.capacity = 64, .executor = &ex});
  std::size_t sum = 0;
  std::vector<xcoro::frame_t<void>> senders;
  senders.reserve(n);
  auto t0 = clock_type::now();
  auto receiver = take(xcoro::xasync(std::size_t{scale_stack},
                                     [&] {
                                       for (std::size_t i = 0; i < n; ++i) {
                                         sum += *ch.recv();
                                       }
                                     }),
                       "xasync failed");
  for (std::size_t i = 0; i < n; ++i) {
    senders.push_back(take(
        xcoro::xasync(std::size_t{scale_stack}, [&ch, i] { (void)ch.send(i); }), "xasync failed"));
  }
  t.spawn = seconds_since(t0);
  t0 = clock_type::now();
  while (ex.tick()) {
  }
  t.drain = seconds_since(t0);
  if (receiver.status() != xcoro::status::done || sum != n * (n - 1) / 2) {
    fail("scaling (N senders) did not complete");
  }
  t0 = clock_type::now();
  senders.clear();
  receiver = {};
  t.free = seconds_since(t0);
  return t;
}

phase_times scale_receivers(std::size_t n) {
  phase_times t;
  xcoro::executor ex;
  xcoro::channel<std::size_t> ch({.capacity = 64, .executor = &ex});
  std::size_t sum = 0;
  std::vector<xcoro::frame_t<void>> receivers;
  receivers.reserve(n);
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < n; ++i) {
    receivers.push_back(take(
        xcoro::xasync(std::size_t{scale_stack}, [&] { sum += *ch.recv(); }), "xasync failed"));
  }
  auto sender = take(xcoro::xasync(std::size_t{scale_stack},
                                   [&] {
                                     for (std::size_t i = 0; i < n; ++i) {
                                       (void)ch.send(i);
                                     }
                                   }),
                     "xasync failed");
  t.spawn = seconds_since(t0);
  t0 = clock_type::now();
  while (ex.tick()) {
  }
  t.drain = seconds_since(t0);
  if (sender.status() != xcoro::status::done || sum != n * (n - 1) / 2) {
    fail("scaling (N receivers) did not complete");
  }
  t0 = clock_type::now();
  receivers.clear();
  sender = {};
  t.free = seconds_since(t0);
  return t;
}

// Boost.Fiber's side of a scaling row: N fibers (16 KiB stacks, as xcoro's) through one
// buffered_channel(64) (63 values), the same two directions; returns the total seconds
// from the first fiber's launch to the last fiber's join (spawn + drain + free).
double fiber_scale(bool senders, std::size_t n) {
  boost::fibers::buffered_channel<std::size_t> ch(64);
  std::vector<boost::fibers::fiber> fibers;
  fibers.reserve(n + 1);
  std::size_t sum = 0;
  auto stack = [] { return boost::fibers::fixedsize_stack(scale_stack); };
  auto t0 = clock_type::now();
  if (senders) {
    fibers.emplace_back(std::allocator_arg, stack(), [&] {
      for (std::size_t i = 0; i < n; ++i) {
        std::size_t v = 0;
        ch.pop(v);
        sum += v;
      }
    });
    for (std::size_t i = 0; i < n; ++i) {
      fibers.emplace_back(std::allocator_arg, stack(), [&ch, i] { ch.push(i); });
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      fibers.emplace_back(std::allocator_arg, stack(), [&] {
        std::size_t v = 0;
        ch.pop(v);
        sum += v;
      });
    }
    fibers.emplace_back(std::allocator_arg, stack(), [&] {
      for (std::size_t i = 0; i < n; ++i) {
        ch.push(i);
      }
    });
  }
  for (auto& f : fibers) {
    f.join();
  }
  fibers.clear();
  double s = seconds_since(t0);
  if (sum != n * (n - 1) / 2) {
    fail("Boost.Fiber scaling did not complete");
  }
  return s;
}

void run_scaling(const options& o) {
  bool go = go_available(o);
  std::printf("\n== 2. scaling: N coroutines through one channel of capacity 64 (%zu KiB stacks\n",
              scale_stack / 1024);
  std::printf("   from the default pool); median of 3 runs; ns/msg = total / N; peak RSS\n");
  std::printf("   is the peak of the row's own runs\n");
  std::printf("   spawn: xasync of N+1 coroutines; drain: root's tick() loop until all N\n");
  std::printf("   values are received (drain/msg: the channel traffic alone); free: ~frame_t\n");
  std::printf("   peers: N Boost.Fiber fibers (16 KiB fixedsize_stack) through buffered_channel(64),\n");
  std::printf("   and N goroutines through a Go channel of capacity 64 (GOMAXPROCS=1), up to\n");
  std::printf("   N = %zu (--peer-max-n); their ns/msg is total / N like xcoro's, from the\n",
              o.peer_max_n);
  std::printf("   first launch until every fiber or goroutine has finished; %s\n",
              go ? "medians of 3" : "go peer not available");
  std::printf("%-24s %8s %9s %9s %9s %9s %7s %10s %9s %7s %7s %9s %9s\n", "case", "N",
              "spawn ms", "drain ms", "free ms", "total ms", "ns/msg", "drain/msg", "peak RSS",
              "boost", "go", "x/boost", "x/go");
  struct scase {
    const char* name;
    phase_times (*run)(std::size_t);
  };
  const scase cases[] = {{"N senders -> 1 receiver", &scale_senders},
                         {"1 sender -> N receivers", &scale_receivers}};
  bool senders = true;
  for (const scase& c : cases) {
    for (std::size_t n = 1000; n <= o.max_n; n *= 10) {
      std::vector<double> spawn, drain, free, total;
      reset_rss_peak();
      for (int rep = 0; rep < 3; ++rep) {
        phase_times t = c.run(n);
        spawn.push_back(t.spawn);
        drain.push_back(t.drain);
        free.push_back(t.free);
        total.push_back(t.total());
      }
      double tm = median(total);
      double dm = median(drain);
      double rss = rss_peak_since_reset_mib();
      double xn = tm * 1e9 / static_cast<double>(n);
      double bn = -1;
      double gn = -1;
      if (n <= o.peer_max_n) {
        std::vector<double> b, g;
        for (int rep = 0; rep < 3; ++rep) {
          b.push_back(fiber_scale(senders, n) * 1e9 / static_cast<double>(n));
          if (go) {
            double ns = go_peer(o.go_peer, std::string("-scale ") +
                                               (senders ? "senders" : "receivers") + " -n " +
                                               std::to_string(n));
            if (ns > 0) {
              g.push_back(ns);
            }
          }
        }
        bn = median(b);
        gn = g.empty() ? -1 : median(g);
      }
      std::printf("%-24s %8zu %9.2f %9.2f %9.2f %9.2f %7.0f %10.0f %5.0f MiB", c.name, n,
                  median(spawn) * 1e3, dm * 1e3, median(free) * 1e3, tm * 1e3, xn,
                  dm * 1e9 / static_cast<double>(n), rss);
      if (bn > 0) {
        std::printf(" %7.0f", bn);
      } else {
        std::printf(" %7s", "n/a");
      }
      if (gn > 0) {
        std::printf(" %7.0f", gn);
      } else {
        std::printf(" %7s", "n/a");
      }
      print_ratio(xn, bn);
      print_ratio(xn, gn);
      std::printf("\n");
      std::fflush(stdout);
    }
    senders = false;
  }
}

// ---------------------------------------------------------------------------------------
// 3. xawait_all over 10,000 frames. A parent coroutine starts 10,000 children, each of which
// suspends once (xsuspend, back to the parent), then waits for all of them with
// xawait_all(vector). Root then resumes each child once; the child returns, which switches
// straight to its starter (the parent, inside xawait_all), and the parent checks the next
// frame and suspends back to root. So the await figure is, per frame: root -> child ->
// parent -> root (three switches) plus xawait_all's bookkeeping and the result vector.

struct await_times {
  double spawn = 0;  // parent's xasync of the children, each running to its xsuspend
  double await = 0;  // parent's xawait_all(children), while root resumes them one by one
  double free = 0;   // destroying the finished children
};

await_times await_all_once(std::size_t n) {
  await_times t;
  std::vector<xcoro::frame_t<void>> children;
  children.reserve(n);
  std::size_t results = 0;
  clock_type::time_point t0;
  auto parent = take(xcoro::xasync([&] {
                       auto s0 = clock_type::now();
                       for (std::size_t i = 0; i < n; ++i) {
                         children.push_back(
                             take(xcoro::xasync([] { xcoro::xsuspend(); }), "xasync failed"));
                       }
                       t.spawn = seconds_since(s0);
                       t0 = clock_type::now();
                       results = xcoro::xawait_all(children).size();
                       t.await = seconds_since(t0);
                     }),
                     "xasync failed");
  // The parent now waits in xawait_all for children[0].
  for (auto& c : children) {
    xcoro::xresume(c);
  }
  if (parent.status() != xcoro::status::done || results != n) {
    fail("xawait_all did not complete");
  }
  auto f0 = clock_type::now();
  children.clear();
  t.free = seconds_since(f0);
  return t;
}

// Boost.Fiber's counterpart of await_all_once: n fibers launched with launch::dispatch (each
// runs at once, as xasync does, until it yields), then joined one by one; returns the total
// seconds from the first launch until every fiber has been joined and destroyed.
double fiber_await_all(std::size_t n) {
  std::vector<boost::fibers::fiber> children;
  children.reserve(n);
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < n; ++i) {
    children.emplace_back(boost::fibers::launch::dispatch, [] { boost::this_fiber::yield(); });
  }
  for (auto& c : children) {
    c.join();
  }
  children.clear();
  return seconds_since(t0);
}

void run_await_all(const options& o) {
  constexpr std::size_t n = 10000;
  std::printf("\n== 3. xawait_all over %zu frames (default %zu KiB stacks), median of 5 runs\n",
              n, xcoro::default_stack_size / 1024);
  std::printf("   children xsuspend once; root xresumes each; the child returns to the parent\n");
  std::printf("   waiting in xawait_all(vector), which checks the next frame and suspends\n");
  await_all_once(n);  // warm-up: fills the stack pool
  std::vector<double> spawn, await, free;
  for (int rep = 0; rep < 5; ++rep) {
    await_times t = await_all_once(n);
    spawn.push_back(t.spawn);
    await.push_back(t.await);
    free.push_back(t.free);
  }
  auto per = [&](const std::vector<double>& v) {
    return median(v) * 1e9 / static_cast<double>(n);
  };
  std::printf("   %-38s %7.1f ns/frame\n", "spawn (xasync to the first suspend)", per(spawn));
  std::printf("   %-38s %7.1f ns/frame (%.3f ms for all)\n",
              "xawait_all (resume + finish + wait)", per(await), median(await) * 1e3);
  std::printf("   %-38s %7.1f ns/frame\n", "free (~frame_t, stack back to the pool)", per(free));
  // The peers: the same n, the same steps (start, run to one suspension, finish, wait,
  // free), timed as a whole.
  fiber_await_all(n);  // warm-up
  std::vector<double> total, b, g;
  bool go = go_available(o);
  for (int rep = 0; rep < 5; ++rep) {
    total.push_back(spawn[rep] + await[rep] + free[rep]);
    b.push_back(fiber_await_all(n));
    if (go) {
      double ns = go_peer(o.go_peer, "-awaitall -n " + std::to_string(n));
      if (ns > 0) {
        g.push_back(ns * static_cast<double>(n) / 1e9);
      }
    }
  }
  double xt = per(total);
  double bt = per(b);
  double gt = g.empty() ? -1 : per(g);
  std::printf("   %-38s %7.1f ns/frame\n", "xcoro total (spawn + xawait_all + free)", xt);
  std::printf("   %-38s %7.1f ns/fiber (launch::dispatch, yield once,\n", "boost: fibers", bt);
  std::printf("   %-38s %7s join each, free)\n", "", "");
  if (gt > 0) {
    std::printf("   %-38s %7.1f ns/goroutine (Gosched once, WaitGroup)\n", "go: goroutines", gt);
  } else {
    std::printf("   %-38s %7s\n", "go: goroutines", "n/a");
  }
  std::printf("   ratio xcoro/boost");
  print_ratio(xt, bt);
  std::printf(", xcoro/go");
  print_ratio(xt, gt);
  std::printf(" (medians of 5)\n");
}

}  // namespace

int main(int argc, char** argv) {
  program_name = "xcoro-channel-bench";
  options o;
  if (int rc = parse_args(argc, argv, o); rc >= 0) {
    return rc;
  }
  xcoro::executor ex;
  // The executor xawait_all and channels fall back to; every channel here also names one.
  xcoro::get_env().executor = &ex;
  auto t0 = clock_type::now();
  std::printf("xcoro-channel-bench: everything on one OS thread\n");
  std::printf("cpu: %s\n\n", cpu_model().c_str());
  if (o.section == 0 || o.section == 1) {
    run_ping_pong(o);
  }
  if (o.section == 0 || o.section == 2) {
    run_scaling(o);
  }
  if (o.section == 0 || o.section == 3) {
    run_await_all(o);
  }
  std::printf("\npeak RSS %.0f MiB, %.1f s in all\n", peak_rss_mib(), seconds_since(t0));
  return 0;
}
