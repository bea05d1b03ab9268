// xcoro-runtime-bench: what a message costs when it crosses the workers of a runtime.
// (1) Ping-pong over two channels (capacity 0 and 1) between two coroutines on two different
// workers of a 2-worker runtime, beside the same on one worker, two Boost.Fiber fibers on two
// threads and two goroutines with GOMAXPROCS=2 (bench/peers/pingpong_mt.go), with medians
// and ratios of medians. (2) The wake-up latency of a parked worker: a coroutine on worker
// B sleeps, stamps steady_clock and sends to a coroutine waiting on worker A, which has
// nothing else to do and so parks in its loop; the latency is from the stamp to A's
// coroutine running. Beside it, the same for Go and for a Boost.Fiber thread.
#include <algorithm>
#include <atomic>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/runtime.hpp"

#ifndef XCORO_GO_PEER_MT
#define XCORO_GO_PEER_MT ""
#endif

namespace {

using namespace xcoro_bench;
namespace aio = xcoro::aio;

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct options {
  std::size_t repeat = 5;
  std::size_t messages = 20000;  // one-way messages per cross-thread ping-pong run
  std::size_t samples = 10000;   // wake-up latency samples
  std::size_t section = 0;       // 1 or 2: run only that section; 0: both
  std::string go_peer = XCORO_GO_PEER_MT;
};

void print_usage(std::FILE* out) {
  std::fputs(
      "Usage: xcoro-runtime-bench [--repeat 5] [--messages 20000] [--samples 10000]\n"
      "                           [--go-peer PATH|none] [--section 1|2]\n"
      "  --messages N  one-way messages per cross-thread ping-pong run (10 N on one worker)\n"
      "  --samples N   wake-up latency samples, 1 ms apart (at least 100)\n"
      "  --section N   runs only section N (1 ping-pong, 2 wake-up latency)\n",
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
    } else if (a == "--samples" && n >= 100) {
      o.samples = n;
    } else if (a == "--section" && n <= 2) {
      o.section = n;
    } else {
      return false;
    }
    return true;
  });
}

bool go_available(const options& o) {
  return !o.go_peer.empty() && std::ifstream(o.go_peer).good();
}

// Runs the Go peer with `args` and reads `count` numbers from the one line it prints; false
// on any failure. Process start-up is outside the peer's own timing.
bool go_peer(const options& o, const std::string& args, double* out, int count) {
  std::string quoted = "'";
  for (char ch : o.go_peer) {
    quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  }
  quoted += "'";
  std::string cmd = "GOMAXPROCS=2 " + quoted + " " + args;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return false;
  }
  int got = 0;
  while (got < count && std::fscanf(p, "%lf", &out[got]) == 1) {
    ++got;
  }
  return pclose(p) == 0 && got == count;
}

// ---------------------------------------------------------------------------------------
// The two parties of a cross-worker run. Each runs in a block_on of its own, from a thread
// of its own: block_on hands its calls to the workers in turn, so two calls made at once
// land on the two workers of a 2-worker runtime. Each party checks where it runs, at its
// start and its end, and the run fails loudly if both are not on different workers.

struct party_result {
  int worker_at_start = -1;
  int worker_at_end = -1;
};

/// Waits, without blocking the worker, until both parties have arrived. The 1 ms sleeps keep
/// a timer in flight, so that the runtime's deadlock check does not fire while the other
/// party's block_on is on its way.
void meet(std::atomic<int>& arrived) {
  ++arrived;
  while (arrived.load() < 2) {
    (void)aio::sleep(nullptr, std::chrono::milliseconds(1));
  }
}

/// Runs a(), then b(), each in a block_on from a thread of its own, and fails unless they ran
/// on two different workers throughout.
template <class A, class B>
void on_two_workers(xcoro::runtime& rt, A&& a, B&& b) {
  party_result ra, rb;
  auto run = [&rt](party_result& r, auto& fn) {
    auto done = rt.block_on([&] {
      r.worker_at_start = xcoro::this_worker();
      fn();
      r.worker_at_end = xcoro::this_worker();
    });
    if (!done) {
      fail("block_on of a party failed");
    }
  };
  std::thread ta([&] { run(ra, a); });
  std::thread tb([&] { run(rb, b); });
  ta.join();
  tb.join();
  if (ra.worker_at_start < 0 || rb.worker_at_start < 0 ||
      ra.worker_at_start != ra.worker_at_end || rb.worker_at_start != rb.worker_at_end ||
      ra.worker_at_start == rb.worker_at_start) {
    std::fprintf(stderr, "xcoro-runtime-bench: party A ran on worker %d..%d, B on %d..%d\n",
                 ra.worker_at_start, ra.worker_at_end, rb.worker_at_start, rb.worker_at_end);
    fail("the two parties did not run on two different workers");
  }
}

/// Makes a T on a worker of `rt`, so that it is shared between the workers.
template <class T, class... Args>
std::unique_ptr<T> make_on_worker(xcoro::runtime& rt, Args... args) {
  std::unique_ptr<T> out;
  if (!rt.block_on([&] { out = std::make_unique<T>(args...); })) {
    fail("block_on failed");
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// 1. Ping-pong. A message is one value sent one way (one send and its recv); A sends to B
// over `ab` and B sends it back over `ba`, so a round trip is two messages.

using channel = xcoro::channel<std::size_t>;

// A's side: sends `rounds` values and receives each back; returns the seconds it took.
double ping(channel& ab, channel& ba, std::size_t rounds) {
  std::size_t sum = 0;
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < rounds; ++i) {
    (void)ab.send(i);
    sum += *ba.recv();
  }
  double s = seconds_since(t0);
  if (sum != rounds * (rounds - 1) / 2) {
    fail("xcoro ping-pong lost or changed a value");
  }
  return s;
}

// B's side: sends every value it receives straight back.
void pong(channel& ab, channel& ba, std::size_t rounds) {
  for (std::size_t i = 0; i < rounds; ++i) {
    (void)ba.send(*ab.recv());
  }
}

// xcoro, A and B on two different workers of `rt` (2 workers).
double xcoro_cross(xcoro::runtime& rt, std::size_t capacity, std::size_t messages) {
  xcoro::channel_options co{.capacity = capacity};
  auto ab = make_on_worker<channel>(rt, co);
  auto ba = make_on_worker<channel>(rt, co);
  std::size_t rounds = messages / 2;
  std::atomic<int> arrived{0};
  double s = 0;
  on_two_workers(
      rt,
      [&] {
        meet(arrived);
        s = ping(*ab, *ba, rounds);
      },
      [&] {
        meet(arrived);
        pong(*ab, *ba, rounds);
      });
  return s * 1e9 / static_cast<double>(rounds * 2);
}

// xcoro, A and B as two coroutines (xasync, so pinned) on one worker of `rt`, through
// channels made on that worker: the shared channels' lock, without crossing threads.
double xcoro_same(xcoro::runtime& rt, std::size_t capacity, std::size_t messages) {
  std::size_t rounds = messages / 2;
  double s = 0;
  auto r = rt.block_on([&] {
    channel ab({.capacity = capacity});
    channel ba({.capacity = capacity});
    int here = xcoro::this_worker();
    auto b = take(xcoro::xasync([&] { pong(ab, ba, rounds); }), "xasync failed");
    s = ping(ab, ba, rounds);
    xcoro::xawait(b);
    if (xcoro::this_worker() != here) {
      fail("the same-worker ping-pong moved");
    }
  });
  if (!r) {
    fail("block_on failed");
  }
  return s * 1e9 / static_cast<double>(rounds * 2);
}

// Boost.Fiber on two threads: each thread runs its party in its main fiber under the
// default round_robin scheduler, so each fiber stays on its own thread (a work_stealing or
// shared_work scheduler could put both on one). A fiber blocked on a channel parks its
// thread in the scheduler's condition variable; a push from the other thread notifies it.
template <class Channel>
double fiber_cross(Channel& ab, Channel& ba, std::size_t messages) {
  std::size_t rounds = messages / 2;
  std::atomic<int> arrived{0};
  auto meet_threads = [&] {
    ++arrived;
    while (arrived.load() < 2) {
      std::this_thread::yield();
    }
  };
  std::thread tb([&] {
    meet_threads();
    for (std::size_t i = 0; i < rounds; ++i) {
      std::size_t v = 0;
      ab.pop(v);
      ba.push(v);
    }
  });
  meet_threads();
  std::size_t sum = 0;
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < rounds; ++i) {
    ab.push(i);
    std::size_t v = 0;
    ba.pop(v);
    sum += v;
  }
  double s = seconds_since(t0);
  tb.join();
  if (sum != rounds * (rounds - 1) / 2) {
    fail("Boost.Fiber ping-pong lost or changed a value");
  }
  return s * 1e9 / static_cast<double>(rounds * 2);
}

// Capacity 0 is unbuffered_channel; capacity 1 is buffered_channel(2), which holds one
// value (its capacity must be a power of two >= 2 and it holds capacity - 1).
double fiber_cross(std::size_t capacity, std::size_t messages) {
  if (capacity == 0) {
    boost::fibers::unbuffered_channel<std::size_t> ab, ba;
    return fiber_cross(ab, ba, messages);
  }
  boost::fibers::buffered_channel<std::size_t> ab(2), ba(2);
  return fiber_cross(ab, ba, messages);
}

double go_ping_pong(const options& o, std::size_t capacity, std::size_t messages, bool lock) {
  double ns = -1;
  std::string args = "-cap " + std::to_string(capacity) + " -n " + std::to_string(messages);
  return go_peer(o, args + (lock ? " -lock" : ""), &ns, 1) ? ns : -1;
}

void run_ping_pong(xcoro::runtime& rt, const options& o) {
  bool go = go_available(o);
  std::size_t same_messages = o.messages * 10;
  std::printf("== 1. ping-pong across threads: ns per one-way message (a round trip is 2)\n");
  std::printf("   median of %zu runs of %zu messages (%zu for xcoro on one worker); interleaved\n",
              o.repeat, o.messages / 2 * 2, same_messages / 2 * 2);
  std::printf("   xcoro-2w:  one coroutine on each worker of a 2-worker runtime (each in a\n");
  std::printf("              block_on; this_worker() checked at start and end)\n");
  std::printf("   xcoro-1w:  both on one worker (xasync), the same shared channels\n");
  std::printf("   boost-2t:  one fiber on each of 2 threads (round_robin per thread)\n");
  if (go) {
    std::printf("   go:        2 goroutines, GOMAXPROCS=2, placed by Go's scheduler\n");
    std::printf("   go-lock:   the same, each goroutine wired to its own thread (LockOSThread)\n");
  } else {
    std::printf("   go:        peer not available (%s); go columns are n/a\n",
                o.go_peer.empty() ? "not built" : o.go_peer.c_str());
  }
  std::printf("%-11s %9s %9s %9s %9s %9s %9s %9s %9s\n", "capacity", "xcoro-2w", "xcoro-1w",
              "boost-2t", "go", "go-lock", "2w/go", "2w/golock", "2w/boost");
  for (std::size_t capacity : {std::size_t{0}, std::size_t{1}}) {
    // Warm-up: first-touch of stacks and pools is not what is measured.
    xcoro_cross(rt, capacity, o.messages / 10 + 2);
    xcoro_same(rt, capacity, same_messages / 10 + 2);
    fiber_cross(capacity, o.messages / 10 + 2);
    std::vector<double> x2, x1, b, g, gl;
    for (std::size_t i = 0; i < o.repeat; ++i) {
      x2.push_back(xcoro_cross(rt, capacity, o.messages));
      x1.push_back(xcoro_same(rt, capacity, same_messages));
      b.push_back(fiber_cross(capacity, o.messages));
      if (go) {
        if (double ns = go_ping_pong(o, capacity, o.messages, false); ns > 0) {
          g.push_back(ns);
        }
        if (double ns = go_ping_pong(o, capacity, o.messages, true); ns > 0) {
          gl.push_back(ns);
        }
      }
    }
    double x2m = median(x2);
    std::printf("%-11s %9.1f %9.1f %9.1f", capacity == 0 ? "unbuffered" : "1", x2m, median(x1),
                median(b));
    auto cell = [](double v) {
      if (v > 0) {
        std::printf(" %9.1f", v);
      } else {
        std::printf(" %9s", "n/a");
      }
    };
    cell(median(g));
    cell(median(gl));
    print_ratio(x2m, median(g));
    print_ratio(x2m, median(gl));
    print_ratio(x2m, median(b));
    std::printf("\n");
    std::fflush(stdout);
  }
}

// ---------------------------------------------------------------------------------------
// 2. Wake-up latency of a parked worker.

constexpr auto pause = std::chrono::milliseconds(1);

struct percentiles {
  double p50 = -1;
  double p99 = -1;
  double max = -1;
  double send_p50 = -1;  // what the send itself took the sender, µs
};

// The same quantiles as the Go peer: the sample at index q * (n - 1) of the sorted samples.
percentiles summarize(std::vector<double> us) {
  percentiles p;
  if (us.empty()) {
    return p;
  }
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1))]; };
  p.p50 = at(0.5);
  p.p99 = at(0.99);
  p.max = us.back();
  return p;
}

double us_since(clock_type::time_point stamp) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - stamp).count();
}

// Latencies and the sender's own cost of each send, in µs.
struct wake_samples {
  std::vector<double> latency;
  std::vector<double> send;
  percentiles summary() const {
    percentiles p = summarize(latency);
    p.send_p50 = summarize(send).p50;
    return p;
  }
};

// A waits in recv on its worker; B, on the other worker, sleeps 1 ms (A's loop has nothing
// to do all that time, so it parks: its adaptive busy-poll window closes after a long sleep)
// and sends the time.
wake_samples xcoro_wake(xcoro::runtime& rt, std::size_t samples) {
  using stamp_channel = xcoro::channel<clock_type::time_point>;
  auto ch = make_on_worker<stamp_channel>(rt, xcoro::channel_options{.capacity = 1});
  wake_samples w;
  w.latency.reserve(samples);
  w.send.reserve(samples);
  std::atomic<int> arrived{0};
  on_two_workers(
      rt,
      [&] {
        meet(arrived);
        for (std::size_t i = 0; i < samples; ++i) {
          auto t = ch->recv();
          if (!t) {
            fail("the wake-up channel closed");
          }
          w.latency.push_back(us_since(*t));
        }
      },
      [&] {
        meet(arrived);
        for (std::size_t i = 0; i < samples; ++i) {
          (void)aio::sleep(nullptr, pause);
          auto t = clock_type::now();
          (void)ch->send(t);
          w.send.push_back(us_since(t));
        }
      });
  return w;
}

// Boost.Fiber: a thread's main fiber waits in pop (its thread blocks in the round_robin
// scheduler's condition variable); another thread sleeps 1 ms and pushes the time.
wake_samples fiber_wake(std::size_t samples) {
  boost::fibers::buffered_channel<clock_type::time_point> ch(2);
  wake_samples w;
  w.latency.reserve(samples);
  w.send.reserve(samples);
  std::thread sender([&] {
    for (std::size_t i = 0; i < samples; ++i) {
      std::this_thread::sleep_for(pause);
      auto t = clock_type::now();
      ch.push(t);
      w.send.push_back(us_since(t));
    }
  });
  for (std::size_t i = 0; i < samples; ++i) {
    clock_type::time_point t;
    ch.pop(t);
    w.latency.push_back(us_since(t));
  }
  sender.join();
  return w;
}

void run_wake(xcoro::runtime& rt, const options& o) {
  bool go = go_available(o);
  std::printf("\n== 2. wake-up latency of a parked receiver, µs from the stamped send to the\n");
  std::printf("   receiver running; %zu samples, the sender pausing %lld ms before each\n",
              o.samples, static_cast<long long>(pause.count()));
  std::printf("   xcoro-2w:  receiver on worker A (parked in its loop), sender on worker B\n");
  std::printf("   boost-2t:  receiver's thread blocked in round_robin's condition variable\n");
  std::printf("   go:        GOMAXPROCS=2; Go may run the receiver on the sender's thread\n");
  std::printf("   go-lock:   receiver and sender each wired to a thread (LockOSThread)\n");
  std::printf("   send: the sender's own time in the send call (p50), which the wake-up of a\n");
  std::printf("   parked thread is part of\n");
  std::printf("%-11s %9s %9s %9s %9s\n", "", "p50", "p99", "max", "send");
  auto row = [](const char* name, percentiles p) {
    std::printf("%-11s", name);
    for (double v : {p.p50, p.p99, p.max, p.send_p50}) {
      if (v < 0) {
        std::printf(" %9s", "n/a");
      } else {
        std::printf(" %9.1f", v);
      }
    }
    std::printf("\n");
    std::fflush(stdout);
  };
  xcoro_wake(rt, 100);  // warm-up
  percentiles x = xcoro_wake(rt, o.samples).summary();
  row("xcoro-2w", x);
  row("boost-2t", fiber_wake(o.samples).summary());
  percentiles g, gl;
  if (go) {
    double v[2];
    std::string args = "-wake -n " + std::to_string(o.samples) + " -pause-us " +
                       std::to_string(std::chrono::microseconds(pause).count());
    if (go_peer(o, args, v, 2)) {
      g.p50 = v[0];
      g.p99 = v[1];
    }
    if (go_peer(o, args + " -lock", v, 2)) {
      gl.p50 = v[0];
      gl.p99 = v[1];
    }
  }
  row("go", g);
  row("go-lock", gl);
  std::printf("   xcoro-2w/go p50");
  print_ratio(x.p50, g.p50);
  std::printf(", p99");
  print_ratio(x.p99, g.p99);
  std::printf("; xcoro-2w/go-lock p50");
  print_ratio(x.p50, gl.p50);
  std::printf(", p99");
  print_ratio(x.p99, gl.p99);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  program_name = "xcoro-runtime-bench";
  options o;
  if (int rc = parse_args(argc, argv, o); rc >= 0) {
    return rc;
  }
  auto rt = xcoro::runtime::create({.threads = 2});
  if (!rt) {
    std::fprintf(stderr, "xcoro-runtime-bench: runtime: %s\n", rt.error().message().c_str());
    return 1;
  }
  auto t0 = clock_type::now();
  std::printf("xcoro-runtime-bench: a 2-worker runtime; %u CPUs online\n",
              std::thread::hardware_concurrency());
  std::printf("cpu: %s, load average: %s\n\n", cpu_model().c_str(), load_average().c_str());
  if (o.section == 0 || o.section == 1) {
    run_ping_pong(*rt, o);
  }
  if (o.section == 0 || o.section == 2) {
    run_wake(*rt, o);
  }
  std::printf("\n%.1f s in all, load average now %s\n", seconds_since(t0),
              load_average().c_str());
  return 0;
}
