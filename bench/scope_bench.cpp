// xcoro-scope-bench: what cancellation costs, on one OS thread, each figure beside a peer
// measured in the same run. (1a) Cancel latency of a coroutine blocked in channel<int>::recv()
// on an empty channel: ns from xcoro::cancel(f) until f's recv returns (f is woken through
// the executor that root drains with tick()), beside a plain wake-up through the same path
// (a send from root that hands a value to the blocked receiver), and, for context, a
// Boost.Fiber fiber woken from a blocked pop (Boost.Fiber has no cancellation). (1b) Cancel
// latency of a coroutine blocked in a socket read (aio::tcp over a socketpair), on the
// io_uring and the epoll backend: xcoro::cancel(f) beside aio::cancel(f), the cancel of that
// one operation. (2) task_group::spawn of an empty function and its release, beside xasync +
// xawait of the same function and Boost.Fiber's fiber + join().
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xcoro/aio.hpp"
#include "xcoro/channel.hpp"
#include "bench_support.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/scope.hpp"

namespace {

using namespace xcoro_bench;

namespace aio = xcoro::aio;
using clock_type = std::chrono::steady_clock;

// Every coroutine and fiber here runs on a 16 KiB stack: xcoro's from its default pooled
// allocator (guard page, reused), Boost.Fiber's from fixedsize_stack (malloc), as in
// xcoro-channel-bench's scaling table.
constexpr std::size_t stack_size = 16 * 1024;

double ns_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

struct options {
  std::size_t repeat = 5;
  std::size_t iterations = 100000;    // cancels (or wake-ups) per channel run
  std::size_t io_iterations = 20000;  // cancels per socket run
  std::size_t children = 100000;      // children per spawn run
  std::size_t section = 0;            // 1 or 2: run only that section; 0: both
};

void print_usage(std::FILE* out) {
  std::fputs(
      "Usage: xcoro-scope-bench [--repeat 5] [--iterations 100000] [--io-iterations 20000]\n"
      "                         [--children 100000] [--section 1|2]\n"
      "  --section N  runs only section N (1 cancel latency, 2 task_group spawns)\n",
      out);
}

// Returns the exit code when the program should stop (help: 0, bad usage: 2), else -1.
int parse_args(int argc, char** argv, options& o) {
  return parse_pairs(argc, argv, print_usage, [&](std::string_view a, const char* v) {
    unsigned long long n = count_arg(v);
    if (n == 0) {
      return false;
    }
    if (a == "--repeat") {
      o.repeat = n;
    } else if (a == "--iterations") {
      o.iterations = n;
    } else if (a == "--io-iterations") {
      o.io_iterations = n;
    } else if (a == "--children") {
      o.children = n;
    } else if (a == "--section" && n <= 2) {
      o.section = n;
    } else {
      return false;
    }
    return true;
  });
}

// One run's per-iteration latencies, summarised.
struct run_figures {
  double mean = 0;  // ns per cancel (or wake-up): the sum over the iterations / iterations
  double p50 = 0;   // the median iteration
};

run_figures summarise(std::vector<double>& ns) {
  return {mean(ns), median(ns)};
}

// The medians, over the runs, of each run's mean and p50.
struct case_figures {
  double mean = -1;
  double p50 = -1;
};

case_figures over_runs(const std::vector<run_figures>& runs) {
  std::vector<double> m, p;
  for (const run_figures& r : runs) {
    m.push_back(r.mean);
    p.push_back(r.p50);
  }
  return {median(m), median(p)};
}

// What one steady_clock::now() costs here: each latency below holds one such read (the
// stamp taken when the coroutine runs again), the other being outside the interval.
double clock_read_ns() {
  std::vector<double> v;
  for (int rep = 0; rep < 5; ++rep) {
    constexpr int n = 100000;
    auto t0 = clock_type::now();
    clock_type::time_point last;
    for (int i = 0; i < n; ++i) {
      last = clock_type::now();
    }
    v.push_back(ns_between(t0, last) / n);
  }
  return median(v);
}

// ---------------------------------------------------------------------------------------
// 1a. A coroutine blocked in channel<int>::recv() on an empty channel.
//
// Each iteration starts a fresh coroutine (a cancel is level-triggered: a cancelled
// coroutine stays cancelled until it finishes, so it cannot be reused), which runs into
// recv() and suspends; that is outside the timing. Root then reads the clock, cancels it
// (or sends it a value) and drains the executor with tick(); the coroutine reads the clock
// as soon as its recv returns. Both cases do exactly the same around what differs.

enum class wake_by { cancel, send };

run_figures xcoro_channel_run(wake_by how, std::size_t capacity, std::size_t iterations) {
  xcoro::executor ex;
  xcoro::channel<int> ch({.capacity = capacity, .executor = &ex});
  std::vector<double> ns;
  ns.reserve(iterations);
  clock_type::time_point woke;
  bool got_value = false;
  for (std::size_t i = 0; i < iterations; ++i) {
    auto f = take(xcoro::xasync(xcoro::stack_arg(stack_size),
                                [&] {
                                  std::optional<int> v = ch.recv();
                                  woke = clock_type::now();
                                  got_value = v.has_value();
                                }),
                  "xasync failed");
    if (f.status() != xcoro::status::suspended) {
      fail("the receiver did not block in recv");
    }
    auto t0 = clock_type::now();
    if (how == wake_by::cancel) {
      if (!xcoro::cancel(f.frame())) {
        fail("cancel returned false");
      }
    } else {
      int v = 1;
      if (!ch.try_send(v)) {
        fail("try_send found no waiting receiver");
      }
    }
    while (ex.tick()) {
    }
    if (f.status() != xcoro::status::done || got_value != (how == wake_by::send)) {
      fail("the receiver did not finish as expected");
    }
    ns.push_back(ns_between(t0, woke));
  }
  return summarise(ns);
}

// Boost.Fiber, for context: a fiber launched with launch::dispatch (it runs at once, as
// xasync does) blocks in pop(); main pushes a value and joins it. Capacity 0 is
// unbuffered_channel (main's push waits until the fiber has taken the value), 64 is
// buffered_channel(64) (try_push). Boost.Fiber has no cancellation; this is its wake-up.
run_figures boost_channel_run(std::size_t capacity, std::size_t iterations) {
  std::vector<double> ns;
  ns.reserve(iterations);
  clock_type::time_point woke;
  int got = 0;
  auto measure = [&](auto& ch, auto&& push) {
    for (std::size_t i = 0; i < iterations; ++i) {
      boost::fibers::fiber f(boost::fibers::launch::dispatch, std::allocator_arg,
                             boost::fibers::fixedsize_stack(stack_size), [&] {
                               int v = 0;
                               ch.pop(v);
                               woke = clock_type::now();
                               got = v;
                             });
      got = 0;
      auto t0 = clock_type::now();
      push(ch);
      f.join();
      if (got != 1) {
        fail("the Boost.Fiber receiver did not get the value");
      }
      ns.push_back(ns_between(t0, woke));
    }
  };
  if (capacity == 0) {
    boost::fibers::unbuffered_channel<int> ch;
    measure(ch, [](auto& c) { c.push(1); });
  } else {
    boost::fibers::buffered_channel<int> ch(capacity);
    measure(ch, [](auto& c) {
      if (c.try_push(1) != boost::fibers::channel_op_status::success) {
        fail("Boost.Fiber try_push failed");
      }
    });
  }
  return summarise(ns);
}

void run_channel_cancel(const options& o) {
  std::printf("== 1a. cancel latency: a coroutine blocked in channel<int>::recv() on an empty\n");
  std::printf("   channel; ns from the call in root until the coroutine's recv returns, root\n");
  std::printf("   draining the channel's executor with tick(); a fresh coroutine per iteration\n");
  std::printf("   (outside the timing). %zu iterations per run; per run the mean and the p50\n",
              o.iterations);
  std::printf("   iteration; printed: the median of %zu runs, cancel and wake interleaved\n",
              o.repeat);
  std::printf("   cancel: xcoro::cancel(f)   wake: try_send(1) from root, handing the value to\n");
  std::printf("   the blocked receiver (the same wake-up path, a value instead of a cancel)\n");
  std::printf("   boost: a Boost.Fiber fiber blocked in pop() woken by main's push, for\n");
  std::printf("   context only (Boost.Fiber cannot cancel a fiber)\n");
  std::printf("%-10s %12s %12s %12s %12s %11s %12s %12s\n", "capacity", "cancel mean", "cancel p50",
              "wake mean", "wake p50", "cancel/wake", "boost mean", "boost p50");
  for (std::size_t capacity : {std::size_t{0}, std::size_t{64}}) {
    // Warm-up: first touch of stacks and the pool is not what is measured.
    xcoro_channel_run(wake_by::cancel, capacity, o.iterations / 10 + 1);
    xcoro_channel_run(wake_by::send, capacity, o.iterations / 10 + 1);
    boost_channel_run(capacity, o.iterations / 10 + 1);
    std::vector<run_figures> c, w, b;
    for (std::size_t rep = 0; rep < o.repeat; ++rep) {
      // Alternate which goes first, so that neither always follows the other.
      if (rep % 2 == 0) {
        c.push_back(xcoro_channel_run(wake_by::cancel, capacity, o.iterations));
        w.push_back(xcoro_channel_run(wake_by::send, capacity, o.iterations));
      } else {
        w.push_back(xcoro_channel_run(wake_by::send, capacity, o.iterations));
        c.push_back(xcoro_channel_run(wake_by::cancel, capacity, o.iterations));
      }
      b.push_back(boost_channel_run(capacity, o.iterations));
    }
    case_figures cm = over_runs(c);
    case_figures wm = over_runs(w);
    case_figures bm = over_runs(b);
    std::printf("%-10s %12.1f %12.1f %12.1f %12.1f", capacity == 0 ? "0" : "64", cm.mean, cm.p50,
                wm.mean, wm.p50);
    print_ratio(cm.mean, wm.mean);
    std::printf("   %12.1f %12.1f\n", bm.mean, bm.p50);
    std::fflush(stdout);
  }
  std::printf("   cancel/wake is the ratio of the means; boost capacity 0: unbuffered_channel\n");
  std::printf("   (push), 64: buffered_channel(64) (try_push)\n");
}

// ---------------------------------------------------------------------------------------
// 1b. A coroutine blocked in a socket read: aio::tcp over one end of a socketpair, adopted
// by the loop; nothing is ever written to the other end.
//
// Each iteration starts a fresh coroutine that reads and suspends. Root then gives the loop
// one non-blocking poll (a no-op queued on the executor makes tick() poll without waiting),
// so the read is in the kernel (io_uring: its SQE submitted; epoll: the descriptor
// registered) before the clock starts. Root reads the clock, cancels (the whole coroutine,
// or the one operation), and ticks until the coroutine has finished; the coroutine reads the
// clock as soon as its read returns errc::canceled. The loop has default options
// (adaptive busy polling included) but for the backend.

enum class cancel_by { coroutine, operation };

run_figures socket_run(aio::executor& ex, aio::tcp& end, cancel_by how, std::size_t iterations) {
  std::vector<double> ns;
  ns.reserve(iterations);
  clock_type::time_point woke;
  bool canceled = false;
  xcoro::executor::func nudge{[](void*) {}, nullptr, nullptr};
  for (std::size_t i = 0; i < iterations; ++i) {
    auto f = take(xcoro::xasync(xcoro::stack_arg(stack_size),
                                [&] {
                                  std::array<std::byte, 16> buf{};
                                  auto r = end.read(buf);
                                  woke = clock_type::now();
                                  canceled = !r && r.error() == xcoro::errc::canceled;
                                }),
                  "xasync failed");
    ex.exec().run_soon(nudge);
    ex.tick();
    if (f.status() != xcoro::status::suspended) {
      fail("the reader did not block in read");
    }
    canceled = false;
    auto t0 = clock_type::now();
    bool ok = how == cancel_by::coroutine ? xcoro::cancel(f.frame()) : aio::cancel(f.frame());
    if (!ok) {
      fail("cancel returned false");
    }
    while (f.status() != xcoro::status::done) {
      if (!ex.tick()) {
        fail("the loop stopped with the reader unfinished");
      }
    }
    if (!canceled) {
      fail("the read did not end with errc::canceled");
    }
    ns.push_back(ns_between(t0, woke));
  }
  return summarise(ns);
}

const char* backend_name(aio::backend b) {
  switch (b) {
    case aio::backend::io_uring:
      return "io_uring";
    case aio::backend::epoll:
      return "epoll";
    case aio::backend::automatic:
      break;
  }
  return "automatic";
}

void run_socket_cancel(const options& o) {
  std::printf("\n== 1b. cancel latency: a coroutine blocked in a socket read (aio::tcp over a\n");
  std::printf("   socketpair, adopted by the loop); ns from the call in root until the read\n");
  std::printf("   returns errc::canceled, root ticking the loop; a fresh coroutine per\n");
  std::printf("   iteration, its read in the kernel before the clock starts. %zu iterations\n",
              o.io_iterations);
  std::printf("   per run; the median of %zu runs, interleaved\n", o.repeat);
  std::printf("   xcoro::cancel(f): the whole coroutine   aio::cancel(f): the one operation\n");
  std::vector<aio::backend> wanted{aio::backend::io_uring, aio::backend::epoll};
  if (const char* env = std::getenv("XCORO_BACKEND"); env != nullptr && *env != '\0') {
    std::printf("   XCORO_BACKEND=%s overrides the backend: one row\n", env);
    wanted = {aio::backend::automatic};
  }
  std::printf("%-10s %12s %12s %12s %12s %15s\n", "backend", "cancel mean", "cancel p50",
              "aio::cancel", "aio p50", "cancel/aio mean");
  for (aio::backend be : wanted) {
    auto l = aio::loop::create({.backend = be});
    if (!l) {
      std::printf("%-10s unavailable here (%s); skipped\n", backend_name(be),
                  l.error().message().c_str());
      continue;
    }
    aio::executor ex(*l);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      fail("socketpair failed");
    }
    {
      aio::tcp end(&ex, fds[0]);
      socket_run(ex, end, cancel_by::coroutine, o.io_iterations / 10 + 1);
      socket_run(ex, end, cancel_by::operation, o.io_iterations / 10 + 1);
      std::vector<run_figures> c, a;
      for (std::size_t rep = 0; rep < o.repeat; ++rep) {
        if (rep % 2 == 0) {
          c.push_back(socket_run(ex, end, cancel_by::coroutine, o.io_iterations));
          a.push_back(socket_run(ex, end, cancel_by::operation, o.io_iterations));
        } else {
          a.push_back(socket_run(ex, end, cancel_by::operation, o.io_iterations));
          c.push_back(socket_run(ex, end, cancel_by::coroutine, o.io_iterations));
        }
      }
      case_figures cm = over_runs(c);
      case_figures am = over_runs(a);
      std::printf("%-10s %12.1f %12.1f %12.1f %12.1f", backend_name(l->backend()), cm.mean, cm.p50,
                  am.mean, am.p50);
      std::printf("    ");
      print_ratio(cm.mean, am.mean);
      std::printf("\n");
      std::fflush(stdout);
    }
    ::close(fds[1]);
  }
}

// ---------------------------------------------------------------------------------------
// 2. Spawning and releasing a child that does nothing, from root, N times in a row; ns per
// child is the whole run over N. Each child runs at once to its end.
//   task_group: g.spawn(empty) N times, then g.wait() and the group's destruction (a
//     finished child's stack is freed by the next spawn, or by wait).
//   xasync: xasync(empty), xawait on its frame, and the frame_t's destruction.
//   boost: boost::fibers::fiber(empty) and join() (the default launch::post: the fiber runs
//     at join), with fixedsize_stack (malloc and free per fiber) and, as xcoro reuses
//     stacks from a pool, with pooled_fixedsize_stack.

void empty_child() {}

double group_run(std::size_t n) {
  auto t0 = clock_type::now();
  {
    xcoro::task_group g;
    for (std::size_t i = 0; i < n; ++i) {
      if (!g.spawn(xcoro::stack_arg(stack_size), &empty_child)) {
        fail("task_group::spawn failed");
      }
    }
    if (!g.wait()) {
      fail("task_group::wait failed");
    }
  }
  return ns_between(t0, clock_type::now()) / static_cast<double>(n);
}

double xasync_run(std::size_t n) {
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < n; ++i) {
    auto f = take(xcoro::xasync(xcoro::stack_arg(stack_size), &empty_child), "xasync failed");
    xcoro::xawait(f);
  }
  return ns_between(t0, clock_type::now()) / static_cast<double>(n);
}

template <class StackAllocator>
double fiber_run(std::size_t n, const StackAllocator& stack) {
  auto t0 = clock_type::now();
  for (std::size_t i = 0; i < n; ++i) {
    boost::fibers::fiber f(std::allocator_arg, StackAllocator(stack), &empty_child);
    f.join();
  }
  return ns_between(t0, clock_type::now()) / static_cast<double>(n);
}

void run_spawn(const options& o) {
  std::printf("\n== 2. spawn and release of a child that does nothing, from root: ns per child,\n");
  std::printf("   %zu children per run, median of %zu runs, the four interleaved\n", o.children,
              o.repeat);
  std::printf("   task_group: g.spawn(f) each time, then g.wait() and ~task_group\n");
  std::printf("   xasync:     xasync(f), xawait(frame), ~frame_t\n");
  std::printf("   boost:      boost::fibers::fiber(f) (launch::post) and join()\n");
  boost::fibers::fixedsize_stack fixed(stack_size);
  boost::fibers::pooled_fixedsize_stack pooled(stack_size);
  // Warm-up: fills xcoro's stack pool and Boost's.
  group_run(o.children / 10 + 1);
  xasync_run(o.children / 10 + 1);
  fiber_run(o.children / 10 + 1, fixed);
  fiber_run(o.children / 10 + 1, pooled);
  std::vector<double> g, x, bf, bp;
  for (std::size_t rep = 0; rep < o.repeat; ++rep) {
    g.push_back(group_run(o.children));
    x.push_back(xasync_run(o.children));
    bf.push_back(fiber_run(o.children, fixed));
    bp.push_back(fiber_run(o.children, pooled));
  }
  double gm = median(g);
  double xm = median(x);
  double bfm = median(bf);
  double bpm = median(bp);
  std::printf("%-44s %9s %14s\n", "", "ns/child", "task_group/it");
  std::printf("%-44s %9.1f\n", "task_group::spawn + release", gm);
  std::printf("%-44s %9.1f", "xasync + xawait + ~frame_t", xm);
  print_ratio(gm, xm);
  std::printf("\n%-44s %9.1f", "boost fiber + join, fixedsize_stack", bfm);
  print_ratio(gm, bfm);
  std::printf("\n%-44s %9.1f", "boost fiber + join, pooled_fixedsize_stack", bpm);
  print_ratio(gm, bpm);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  program_name = "xcoro-scope-bench";
  options o;
  if (int rc = parse_args(argc, argv, o); rc >= 0) {
    return rc;
  }
  auto t0 = clock_type::now();
  utsname u{};
  ::uname(&u);
  std::printf("xcoro-scope-bench: everything on one OS thread; %zu KiB stacks for xcoro\n",
              stack_size / 1024);
  std::printf("(default pooled allocator) and Boost.Fiber (fixedsize_stack, and in section 2\n");
  std::printf("also pooled_fixedsize_stack)\n");
  std::printf("cpu: %s, cores: %ld, kernel: %s, load average: %s\n", cpu_model().c_str(),
              ::sysconf(_SC_NPROCESSORS_ONLN), u.release, load_average().c_str());
  std::printf("\n");
  if (o.section == 0 || o.section == 1) {
    std::printf("steady_clock: one read costs %.1f ns, and each latency below includes one;\n",
                clock_read_ns());
    std::printf("a p50 is one iteration's latency, as coarse as the clock (some virtual\n");
    std::printf("machines step it by 10 ns); a mean is not\n\n");
    run_channel_cancel(o);
    run_socket_cancel(o);
  }
  if (o.section == 0 || o.section == 2) {
    run_spawn(o);
  }
  std::printf("\n%.1f s in all\n", ns_between(t0, clock_type::now()) / 1e9);
  return 0;
}
