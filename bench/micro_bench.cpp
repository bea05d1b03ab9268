// xcoro-micro: Google Benchmark micro cases for xcoro (one-way switch, generator round
// trip, spawn + join), each beside a Boost.Context peer doing the same work in the same
// run, followed by one "ratio <case> xcoro/<peer>" line per pair (below 1: xcoro faster).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <cstddef>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xcoro/coro.hpp"

namespace {

namespace bctx = boost::context;
namespace fc = boost::context::detail;

// Both libraries get the same stack size: xcoro's default (64 KiB unless CMake changed it).
constexpr std::size_t stack_bytes = xcoro::default_stack_size;

// A "per_switch" column: time per context switch, given how many switches one iteration
// makes. kIsRate | kInvert turns "switches per second" into "seconds per switch".
void count_switches(benchmark::State& state, double switches_per_iteration) {
  state.counters["per_switch"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * switches_per_iteration,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "xcoro-micro: %s\n", what);
  std::abort();
}

// ---------------------------------------------------------------------------------------
// BM_switch: resume a coroutine that suspends straight back: two switches per iteration.

void bm_switch_xcoro(benchmark::State& state) {
  auto made = xcoro::xasync(stack_bytes, [] {
    for (;;) {
      xcoro::xsuspend();
    }
  });
  if (!made) {
    die("xasync failed");
  }
  xcoro::frame f = made->frame();
  for (auto _ : state) {
    xcoro::xresume(f);
  }
  count_switches(state, 2);
  // `made` goes out of scope with the coroutine suspended: ~frame_t unwinds it with
  // xcoro::forced_unwind, which the body does not catch. That is the intended clean-up.
}

void bm_switch_boost_fiber(benchmark::State& state) {
  bctx::fiber f(std::allocator_arg, bctx::fixedsize_stack(stack_bytes),
                [](bctx::fiber&& caller) {
                  for (;;) {
                    caller = std::move(caller).resume();
                  }
                  return std::move(caller);
                });
  f = std::move(f).resume();  // in and straight back, like xasync
  for (auto _ : state) {
    f = std::move(f).resume();
  }
  count_switches(state, 2);
  // ~fiber unwinds the suspended fiber, the Boost counterpart of forced_unwind.
}

void fcontext_suspend_forever(fc::transfer_t t) {
  for (;;) {
    t = fc::jump_fcontext(t.fctx, nullptr);
  }
}

void bm_switch_boost_fcontext(benchmark::State& state) {
  auto stack = std::make_unique<std::byte[]>(stack_bytes);
  fc::fcontext_t c = fc::make_fcontext(stack.get() + stack_bytes, stack_bytes,
                                       &fcontext_suspend_forever);
  c = fc::jump_fcontext(c, nullptr).fctx;
  for (auto _ : state) {
    c = fc::jump_fcontext(c, nullptr).fctx;
  }
  count_switches(state, 2);
  // Raw fcontext has no unwinding: the suspended context is simply abandoned (its stack
  // holds nothing that needs destroying).
}

// ---------------------------------------------------------------------------------------
// BM_generator: pass an int in, get an int back (xnext / xyield).

using int_gen = xcoro::frame_t<int, int, int>;

void bm_generator_xcoro(benchmark::State& state) {
  auto made = int_gen::init(
      stack_bytes,
      [](int v) -> int {
        for (;;) {
          v = int_gen::xyield(v + 1);
        }
      },
      0);
  if (!made) {
    die("frame_t::init failed");
  }
  int_gen& g = *made;
  int v = g.xnext_start();
  for (auto _ : state) {
    v = g.xnext(v);
    benchmark::DoNotOptimize(v);
  }
  count_switches(state, 2);
}

void bm_generator_boost_fiber(benchmark::State& state) {
  // The value travels through a captured variable both ways, which is what xcoro's
  // yield/inject slots do too.
  int slot = 0;
  bctx::fiber f(std::allocator_arg, bctx::fixedsize_stack(stack_bytes),
                [&slot](bctx::fiber&& caller) {
                  int v = 0;
                  for (;;) {
                    slot = v + 1;
                    caller = std::move(caller).resume();
                    v = slot;
                  }
                  return std::move(caller);
                });
  f = std::move(f).resume();
  int v = slot;
  for (auto _ : state) {
    slot = v;
    f = std::move(f).resume();
    v = slot;
    benchmark::DoNotOptimize(v);
  }
  count_switches(state, 2);
}

// ---------------------------------------------------------------------------------------
// BM_spawn_join: create a coroutine for an empty function on a pooled stack, run it to
// completion, destroy it.

void bm_spawn_join_xcoro(benchmark::State& state) {
  for (auto _ : state) {
    // The env's default stack: default_stack_allocator(), which pools freed stacks.
    auto made = xcoro::xasync([] {});
    if (!made) {
      die("xasync failed");
    }
    xcoro::xawait(*made);
  }
}

void bm_spawn_join_boost_fiber(benchmark::State& state) {
  // pooled_fixedsize_stack, not protected_fixedsize_stack: xcoro's default allocator
  // pools too, and an mmap + mprotect per fiber would measure the kernel instead.
  bctx::pooled_fixedsize_stack pool(stack_bytes);
  for (auto _ : state) {
    bctx::fiber f(std::allocator_arg, pool, [](bctx::fiber&& caller) { return caller; });
    f = std::move(f).resume();
    if (f) {
      die("boost fiber did not finish");
    }
  }
}

// ---------------------------------------------------------------------------------------
// Ratios

// The console reporter, also remembering each run's real time per iteration by name.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  using benchmark::ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred || r.iterations <= 0) {
        continue;
      }
      double per_iteration = r.real_accumulated_time / static_cast<double>(r.iterations);
      if (r.run_type == Run::RT_Iteration) {
        seconds_[r.run_name.str()] = per_iteration;
      } else if (r.aggregate_name == "median") {
        // With --benchmark_repetitions, ratios compare the medians.
        medians_[r.run_name.str()] = per_iteration;
      }
    }
    benchmark::ConsoleReporter::ReportRuns(runs);
  }

  // Prints "ratio <label> xcoro/<peer>: r" when both benchmarks ran (a filter may have
  // skipped either).
  void print_ratio(const char* label, const std::string& group, const char* peer) const {
    const auto& times = medians_.empty() ? seconds_ : medians_;
    auto x = times.find(group + "/xcoro");
    auto p = times.find(group + "/" + peer);
    if (x != times.end() && p != times.end() && p->second > 0) {
      std::printf("ratio %s xcoro/%s: %.2f%s\n", label, peer, x->second / p->second,
                  medians_.empty() ? "" : " (medians)");
    }
  }

 private:
  std::map<std::string, double> seconds_;
  std::map<std::string, double> medians_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("BM_switch/xcoro", bm_switch_xcoro);
  benchmark::RegisterBenchmark("BM_switch/boost_fiber", bm_switch_boost_fiber);
  benchmark::RegisterBenchmark("BM_switch/boost_fcontext", bm_switch_boost_fcontext);
  benchmark::RegisterBenchmark("BM_generator/xcoro", bm_generator_xcoro);
  benchmark::RegisterBenchmark("BM_generator/boost_fiber", bm_generator_boost_fiber);
  benchmark::RegisterBenchmark("BM_spawn_join/xcoro", bm_spawn_join_xcoro);
  benchmark::RegisterBenchmark("BM_spawn_join/boost_fiber", bm_spawn_join_boost_fiber);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  // Colour only on a terminal, as the default reporter does.
  ratio_reporter reporter(isatty(STDOUT_FILENO) != 0
                              ? benchmark::ConsoleReporter::OO_ColorTabular
                              : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::fflush(stdout);

  reporter.print_ratio("one_way_switch", "BM_switch", "boost_fiber");
  reporter.print_ratio("one_way_switch", "BM_switch", "boost_fcontext");
  reporter.print_ratio("generator", "BM_generator", "boost_fiber");
  reporter.print_ratio("spawn_join", "BM_spawn_join", "boost_fiber");
  benchmark::Shutdown();
  return 0;
}
