// xcoro-skynet-bench: the skynet benchmark. 10^6 coroutines in a tree of fan-out 10 (six
// levels below the root); each leaf returns its index and each inner node returns the sum
// of its ten children, so the root's sum must be 499999500000. Run on xcoro's runtime with
// 2 workers and with 1 (children started with xcoro::spawn, awaited with xawait), beside
// Go (bench/peers/skynet.go, GOMAXPROCS=2 and 1), Tokio (bench/peers/tokio, multi_thread
// with 2 workers and current_thread) and Boost.Fiber (work_stealing on 2 threads, fibers
// and futures). Prints the median of each, its ratio to Go with GOMAXPROCS=2, and the
// machine. The runs are interleaved (one of each per round) so that a burst of load from
// elsewhere falls on all of them alike.
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <barrier>
#include <boost/fiber/algo/work_stealing.hpp>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/runtime.hpp"
#include "xcoro/stack.hpp"

#ifndef XCORO_GO_SKYNET
#define XCORO_GO_SKYNET ""
#endif
#ifndef XCORO_TOKIO_SKYNET
#define XCORO_TOKIO_SKYNET ""
#endif

namespace {

using namespace xcoro_bench;

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

constexpr std::uint64_t fan_out = 10;

// The stack of every xcoro coroutine. Stacks are whole pages with a guard page below, so
// the choice is 4 or 8 KiB. measure_stack_use() (run first) finds the deepest stack a node
// touches: 1.4 KiB with everything bound, but 4.1 KiB at the first call through each PLT
// entry, where the dynamic linker's lazy binding saves the vector registers on the
// coroutine's stack. So 4 KiB would overflow into the guard page, and 8 KiB is the
// smallest safe stack; the program fails unless --stack is 1.5 times the measured depth.
constexpr std::size_t default_stack = 8192;

struct options {
  std::size_t repeat = 5;
  std::uint64_t n = 1000000;  // leaves, a power of 10
  std::size_t stack = default_stack;
  std::size_t fiber_stack = 16 * 1024;
  std::string go = XCORO_GO_SKYNET;
  std::string tokio = XCORO_TOKIO_SKYNET;
  std::string only;  // run only the rows whose name starts with this
};

void print_usage(std::FILE* out) {
  std::fputs(
      "Usage: xcoro-skynet-bench [--repeat 5] [--n 1000000] [--stack BYTES]\n"
      "                          [--fiber-stack BYTES] [--go PATH|none] [--tokio PATH|none]\n"
      "                          [--only xcoro|go|tokio|boost]\n"
      "  --n           leaves of the tree, a power of 10 (the sum is n(n-1)/2)\n"
      "  --stack       bytes of each xcoro coroutine's stack (default 8192)\n"
      "  --fiber-stack bytes of each Boost.Fiber fiber's stack (default 16384)\n"
      "  --only        runs only the rows whose name starts with this (for profiling)\n",
      out);
}

// Returns the exit code when the program should stop (help: 0, bad usage: 2), else -1.
int parse_args(int argc, char** argv, options& o) {
  return parse_pairs(argc, argv, print_usage, [&](std::string_view a, const char* v) {
    if (a == "--go" || a == "--tokio") {
      (a == "--go" ? o.go : o.tokio) = std::string_view(v) == "none" ? "" : v;
      return true;
    }
    if (a == "--only") {
      o.only = v;
      return true;
    }
    unsigned long long n = count_arg(v);
    if (n == 0) {
      return false;
    }
    bool power_of_10 = n >= fan_out;
    for (unsigned long long m = n; m > 1; m /= fan_out) {
      power_of_10 = power_of_10 && m % fan_out == 0;
    }
    if (a == "--repeat") {
      o.repeat = n;
    } else if (a == "--n" && power_of_10) {
      o.n = n;
    } else if (a == "--stack") {
      o.stack = n;
    } else if (a == "--fiber-stack") {
      o.fiber_stack = n;
    } else {
      return false;
    }
    return true;
  });
}

std::uint64_t expected_sum(std::uint64_t n) {
  return n * (n - 1) / 2;
}

void check_sum(const char* who, std::uint64_t sum, std::uint64_t n) {
  if (sum != expected_sum(n)) {
    std::fprintf(stderr, "%s: %s: sum %llu, want %llu\n", program_name, who,
                 static_cast<unsigned long long>(sum),
                 static_cast<unsigned long long>(expected_sum(n)));
    std::exit(1);
  }
}

// ---------------------------------------------------------------------------------------
// xcoro: a node spawns its ten children (queued on its worker, where idle workers steal
// them) and awaits each in turn. `stack` is a byte count, or a caller-owned span from
// `stacks` (measure_stack_use).

struct xcoro_tree {
  std::size_t stack = default_stack;
  std::vector<xcoro::stack_span>* stacks = nullptr;  // non-null: take stacks from here
  std::size_t next_stack = 0;                        // one worker only, when stacks is set

  xcoro::stack_arg next() {
    if (stacks != nullptr) {
      return xcoro::stack_arg((*stacks)[next_stack++]);
    }
    return xcoro::stack_arg(stack);
  }
};

std::uint64_t xcoro_node(xcoro_tree& t, std::uint64_t num, std::uint64_t size) {
  if (size == 1) {
    return num;
  }
  std::uint64_t sub = size / fan_out;
  std::array<xcoro::frame_t<std::uint64_t>, fan_out> children;
  for (std::uint64_t i = 0; i < fan_out; ++i) {
    children[i] = take(xcoro::spawn(t.next(), xcoro_node, std::ref(t), num + i * sub, sub),
                       "spawn failed");
  }
  std::uint64_t sum = 0;
  for (auto& child : children) {
    sum += xcoro::xawait(child);
  }
  return sum;
}

// Times one tree on `rt`, from the root's first spawn to its sum, inside the worker (as the
// peers time theirs inside their runtimes).
double xcoro_skynet(xcoro::runtime& rt, xcoro_tree& t, std::uint64_t n) {
  struct timed {
    std::uint64_t sum;
    double seconds;
  };
  auto r = take(rt.block_on([&t, n] {
                  auto t0 = clock_type::now();
                  std::uint64_t sum = xcoro_node(t, 0, n);
                  return timed{sum, seconds_since(t0)};
                }),
                "block_on failed");
  check_sum("xcoro", r.sum, n);
  return r.seconds;
}

// The deepest stack a node touches: a tree of 1,000 leaves on one worker, every coroutine
// on a caller-owned 64 KiB stack filled with a pattern; the lowest byte that changed, in
// any of them, is the high-water mark. The first 16 bytes are skipped: xcoro writes a
// canary at the base of a stack that has no guard page.
std::size_t measure_stack_use() {
  constexpr std::size_t size = 64 * 1024;
  constexpr std::uint64_t leaves = 1000;
  constexpr std::byte pattern{0xa5};
  std::size_t count = leaves + leaves / 10 + leaves / 100;
  std::vector<std::byte> memory(count * size + xcoro::stack_alignment, pattern);
  auto base = reinterpret_cast<std::uintptr_t>(memory.data());
  auto* first = memory.data() + ((xcoro::stack_alignment - base % xcoro::stack_alignment) %
                                 xcoro::stack_alignment);
  std::vector<xcoro::stack_span> stacks;
  for (std::size_t i = 0; i < count; ++i) {
    stacks.emplace_back(first + i * size, size);
  }
  auto rt = take(xcoro::runtime::create({.threads = 1}), "runtime::create failed");
  xcoro_tree t{.stacks = &stacks};
  check_sum("xcoro (stack measure)",
            take(rt.block_on([&t] { return xcoro_node(t, 0, leaves); }), "block_on failed"),
            leaves);
  if (t.next_stack != count) {
    fail("the stack measure used an unexpected number of coroutines");
  }
  std::size_t deepest = 0;
  for (const auto& s : stacks) {
    std::size_t untouched = 16;
    while (untouched < s.size() && s[untouched] == pattern) {
      ++untouched;
    }
    deepest = std::max(deepest, s.size() - untouched);
  }
  return deepest;
}

// ---------------------------------------------------------------------------------------
// Boost.Fiber: a node launches its ten children with boost::fibers::async (launch::post:
// queued, not run at once, as spawn and the peers do) and sums their futures. The
// work_stealing algorithm can be installed once per process for a fixed set of threads, so
// the second thread joins at the first run and stays until the end of the program. Its
// idle threads sleep (suspend = true) rather than spin: a spinning helper would take a
// CPU from every other row of the table, and Go and Tokio park their idle workers too.

std::uint64_t fiber_node(std::size_t stack, std::uint64_t num, std::uint64_t size) {
  if (size == 1) {
    return num;
  }
  std::uint64_t sub = size / fan_out;
  std::array<boost::fibers::future<std::uint64_t>, fan_out> children;
  for (std::uint64_t i = 0; i < fan_out; ++i) {
    children[i] = boost::fibers::async(boost::fibers::launch::post, std::allocator_arg,
                                       boost::fibers::fixedsize_stack(stack), fiber_node, stack,
                                       num + i * sub, sub);
  }
  std::uint64_t sum = 0;
  for (auto& child : children) {
    sum += child.get();
  }
  return sum;
}

class fiber_pool {
 public:
  fiber_pool() = default;
  fiber_pool(const fiber_pool&) = delete;
  fiber_pool& operator=(const fiber_pool&) = delete;

  ~fiber_pool() {
    if (helper_.joinable()) {
      {
        std::unique_lock<boost::fibers::mutex> lock(mutex_);
        done_ = true;
      }
      cv_.notify_all();
      helper_.join();
    }
  }

  double run(std::size_t stack, std::uint64_t n) {
    if (!helper_.joinable()) {
      // Both threads must have registered with work_stealing before a fiber is launched:
      // a thief picks its victims among all of them.
      std::barrier ready(2);
      helper_ = std::thread([this, &ready] {
        boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(2, true);
        ready.arrive_and_wait();
        std::unique_lock<boost::fibers::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return done_; });
      });
      boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(2, true);
      ready.arrive_and_wait();
    }
    auto t0 = clock_type::now();
    std::uint64_t sum = boost::fibers::async(boost::fibers::launch::post, std::allocator_arg,
                                             boost::fibers::fixedsize_stack(stack), fiber_node,
                                             stack, std::uint64_t{0}, n)
                            .get();
    double s = seconds_since(t0);
    check_sum("Boost.Fiber", sum, n);
    return s;
  }

 private:
  std::thread helper_;
  boost::fibers::mutex mutex_;
  boost::fibers::condition_variable cv_;
  bool done_ = false;
};

// ---------------------------------------------------------------------------------------
// The peers in other languages time themselves (inside their runtime, after a warm-up
// tree of their own) and print seconds per tree; process start-up is outside the timing.
// Returns -1 when the peer failed (it checks its own sum and exits non-zero if wrong).

double run_peer(const std::string& command) {
  std::FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) {
    return -1;
  }
  double s = -1;
  if (std::fscanf(p, "%lf", &s) != 1) {
    s = -1;
  }
  return pclose(p) == 0 ? s : -1;
}

bool available(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

struct row {
  std::string name;
  std::string how;
  bool in_process;              // false: a peer program that times itself
  std::function<double()> run;  // seconds of one tree; negative when it failed
  std::vector<double> seconds = {};
  double rss = -1;  // in-process rows: the most resident memory one run added, in MiB
};

}  // namespace

int main(int argc, char** argv) {
  program_name = "xcoro-skynet-bench";
  options o;
  if (int rc = parse_args(argc, argv, o); rc >= 0) {
    return rc;
  }
  utsname u{};
  ::uname(&u);
  std::printf("xcoro-skynet-bench: %llu leaves, fan-out %llu, %zu runs each (median shown)\n",
              static_cast<unsigned long long>(o.n), static_cast<unsigned long long>(fan_out),
              o.repeat);
  std::printf("cpu: %s, cores: %ld, kernel: %s, load average: %s\n", cpu_model().c_str(),
              ::sysconf(_SC_NPROCESSORS_ONLN), u.release, load_average().c_str());

  std::size_t deepest = measure_stack_use();
  std::printf("xcoro stacks: %zu bytes each; the deepest a node touches is %zu bytes\n",
              o.stack, deepest);
  if (o.stack < deepest + deepest / 2) {
    std::fprintf(stderr, "%s: --stack %zu is less than 1.5 times the %zu bytes a node uses\n",
                 program_name, o.stack, deepest);
    return 1;
  }

  auto rt2 = take(xcoro::runtime::create({.threads = 2}), "runtime::create failed");
  auto rt1 = take(xcoro::runtime::create({.threads = 1}), "runtime::create failed");
  xcoro_tree tree{.stack = o.stack};
  fiber_pool fibers;
  std::string n = std::to_string(o.n);
  std::vector<row> rows;
  rows.push_back({"xcoro, 2 workers", "runtime {.threads = 2}, spawn + xawait", true,
                  [&] { return xcoro_skynet(rt2, tree, o.n); }});
  rows.push_back({"xcoro, 1 worker", "runtime {.threads = 1}, spawn + xawait", true,
                  [&] { return xcoro_skynet(rt1, tree, o.n); }});
  if (available(o.go)) {
    for (int procs : {2, 1}) {
      std::string cmd = "GOMAXPROCS=" + std::to_string(procs) + " " + shell_quote(o.go) +
                        " -n " + n + " -repeat 1 -warmup 1";
      rows.push_back({"go, GOMAXPROCS=" + std::to_string(procs), "goroutines + channels",
                      false, [cmd] { return run_peer(cmd); }});
    }
  }
  if (available(o.tokio)) {
    for (int threads : {2, 1}) {
      std::string cmd = shell_quote(o.tokio) + " --threads " + std::to_string(threads) +
                        " --n " + n + " --repeat 1 --warmup 1";
      rows.push_back({threads == 2 ? "tokio, multi_thread 2" : "tokio, current_thread",
                      "tokio::spawn + JoinHandle", false, [cmd] { return run_peer(cmd); }});
    }
  }
  rows.push_back({"boost.fiber, 2 threads", "work_stealing, async + future", true,
                  [&] { return fibers.run(o.fiber_stack, o.n); }});

  std::erase_if(rows, [&o](const row& r) { return r.name.rfind(o.only, 0) != 0; });
  // Warm-up: first touch of stacks and pools, and the Boost.Fiber threads' start.
  for (row& r : rows) {
    if (r.in_process) {
      r.run();
    }
  }
  for (std::size_t i = 0; i < o.repeat; ++i) {
    for (row& r : rows) {
      double before = 0;
      if (r.in_process) {
        reset_resident_peak();
        before = resident_mib();
      }
      double s = r.run();
      if (s < 0) {
        std::fprintf(stderr, "%s: %s failed\n", program_name, r.name.c_str());
        return 1;
      }
      r.seconds.push_back(s);
      if (r.in_process) {
        r.rss = std::max(r.rss, resident_peak_mib() - before);
      }
    }
  }

  double go2 = -1;
  for (const row& r : rows) {
    if (r.name == "go, GOMAXPROCS=2") {
      go2 = median(r.seconds);
    }
  }
  std::printf("\n%-24s %-40s %9s %9s %9s %9s\n", "", "", "ms", "min ms", "vs go/2",
              "+MiB");
  for (const row& r : rows) {
    double m = median(r.seconds);
    double lo = *std::min_element(r.seconds.begin(), r.seconds.end());
    std::printf("%-24s %-40s %9.1f %9.1f", r.name.c_str(), r.how.c_str(), m * 1e3, lo * 1e3);
    print_ratio(m, go2);
    if (r.rss > 0) {
      std::printf(" %9.0f\n", r.rss);
    } else {
      std::printf(" %9s\n", "-");
    }
  }
  if (!available(o.go)) {
    std::printf("go peer not available (%s)\n", o.go.empty() ? "not built" : o.go.c_str());
  }
  if (!available(o.tokio)) {
    std::printf("tokio peer not available (%s)\n",
                o.tokio.empty() ? "not built" : o.tokio.c_str());
  }
  std::printf("+MiB: the most resident memory one run added at its peak (its peak less the\n"
              "process's resident set when it began; in-process rows only)\n");
  return 0;
}
