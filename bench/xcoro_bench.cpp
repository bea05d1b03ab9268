// xcoro-bench: a port of zigcoro's benchmark.zig (--context_switch, --ncoros N) that also
// runs Boost.Context peers (boost::context::fiber and raw jump_fcontext) through the same
// loops, on the same 4096-byte stacks, in the same process, and prints xcoro/peer ratios.
// The xcoro part prints exactly what zigcoro prints; everything else is extra lines.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_support.hpp"
#include "xcoro/coro.hpp"

namespace {

using xcoro_bench::cpu_model;

namespace bctx = boost::context;
namespace fc = boost::context::detail;
using clock_type = std::chrono::steady_clock;

// zigcoro's benchmark gives every coroutine one page: the point of --ncoros is how far that
// scales, so the peers get exactly the same.
constexpr std::size_t stack_size = 4096;

// ---------------------------------------------------------------------------------------
// Command line

enum class mode { context_switch, ncoros };

struct options {
  mode which = mode::context_switch;
  std::size_t ncoros = 100000;
  std::size_t rounds = 1000;
  std::size_t repeat = 1;
  bool peers = true;
  bool per_batch = false;  // --ncoros: print every batch's line, as zigcoro does
};

void print_usage(std::FILE* out) {
  std::fputs(
      "Usage:\n"
      "  xcoro-bench --context_switch [--repeat 1] [--peers=no]\n"
      "  xcoro-bench --ncoros 100000 [--rounds 1000] [--peers=no] [--per-batch]\n"
      "Counts may contain _ separators (1_000_000). --peers=no skips the Boost.Context runs.\n"
      "--ncoros prints a summary of its batches (10 rounds each); --per-batch also prints\n"
      "every batch's ns/ctxswitch line, as zigcoro's benchmark does.\n",
      out);
}

// A positive decimal count; `_` may separate digits as in Zig's parseInt (1_000_000).
bool parse_count(std::string_view s, std::size_t& out) {
  if (s.empty() || s.front() == '_' || s.back() == '_') {
    return false;
  }
  std::size_t v = 0;
  for (char ch : s) {
    if (ch == '_') {
      continue;
    }
    if (ch < '0' || ch > '9') {
      return false;
    }
    auto d = static_cast<std::size_t>(ch - '0');
    if (v > (SIZE_MAX - d) / 10) {
      return false;
    }
    v = v * 10 + d;
  }
  if (v == 0) {
    return false;
  }
  out = v;
  return true;
}

// Returns the exit code when the program should stop (help: 0, bad usage: 2), else -1.
int parse_args(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      print_usage(stdout);
      return 0;
    }
    if (a == "--context_switch") {
      o.which = mode::context_switch;
    } else if (a == "--ncoros") {
      o.which = mode::ncoros;
    } else if (a == "--per-batch") {
      o.per_batch = true;
    } else if (a == "--peers=no") {
      o.peers = false;
    } else if (a == "--peers=yes") {
      o.peers = true;
    } else if (a == "--repeat") {
      if (i + 1 >= argc || !parse_count(argv[i + 1], o.repeat)) {
        print_usage(stderr);
        return 2;
      }
      ++i;
    } else if (a == "--rounds") {
      if (i + 1 >= argc || !parse_count(argv[i + 1], o.rounds)) {
        print_usage(stderr);
        return 2;
      }
      ++i;
    } else if (a.substr(0, 9) == "--rounds=") {
      if (!parse_count(a.substr(9), o.rounds)) {
        print_usage(stderr);
        return 2;
      }
    } else if (!a.empty() && a[0] != '-' && parse_count(a, o.ncoros)) {
      // zigcoro: any argument that does not start with '-' is the coroutine count.
    } else {
      print_usage(stderr);
      return 2;
    }
  }
  // N stacks of 4096 bytes must fit in the address space.
  if (o.ncoros > SIZE_MAX / stack_size) {
    print_usage(stderr);
    return 2;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// Machine and process facts

// ru_maxrss is in KiB on Linux. It only grows, so after the first run it is the peak of
// the whole process so far, not of one implementation.
long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Resident set now, from /proc/self/statm (pages); -1 if unreadable.
long current_rss_kib() {
  std::ifstream in("/proc/self/statm");
  long size = 0;
  long resident = -1;
  if (!(in >> size >> resident)) {
    return -1;
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

std::int64_t elapsed_ns(clock_type::time_point t0, clock_type::time_point t1) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
}

// Lazily committed, page-aligned memory: only the pages a coroutine touches become RSS,
// which is what lets --ncoros go to millions. MAP_NORESERVE keeps overcommit heuristics
// from refusing a large N up front.
std::byte* map_stacks(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("xcoro-bench: mmap");
    std::exit(1);
  }
  return static_cast<std::byte*>(p);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "xcoro-bench: %s\n", what);
  std::exit(1);
}

// ---------------------------------------------------------------------------------------
// Boost.Context plumbing shared by both benchmarks

// A Boost.Context StackAllocator over caller memory, the counterpart of passing an
// xcoro::stack_span: the fiber's record and stack live in [lo, lo + size) and nothing is
// freed, so both libraries pay the same (nothing) for stacks.
class span_stack {
 public:
  span_stack(std::byte* lo, std::size_t size) noexcept : lo_(lo), size_(size) {}
  bctx::stack_context allocate() noexcept {
    bctx::stack_context sctx;
    sctx.sp = lo_ + size_;  // stacks grow down: Boost wants the top
    sctx.size = size_;
    return sctx;
  }
  void deallocate(bctx::stack_context&) noexcept {}

 private:
  std::byte* lo_;
  std::size_t size_;
};

// What a finished jump_fcontext body hands back, so the caller can tell "finished" from
// "suspended" (raw fcontext has no status).
int fcontext_done_tag = 0;

// ---------------------------------------------------------------------------------------
// --context_switch
//
// Each implementation provides start(n) (create the coroutine on the stack and run it to
// its first suspend, as zigcoro's xasync does), resume() (one bounce: two switches) and
// finish() (the last resume, which must end the coroutine). context_switch_run is the
// zigcoro loop, shared so that every implementation runs literally the same code.

void xcoro_bounce(std::size_t num_bounces) {
  xcoro::xsuspend();
  for (std::size_t i = 0; i < num_bounces; ++i) {
    xcoro::xsuspend();
  }
}

class xcoro_bouncer {
 public:
  explicit xcoro_bouncer(xcoro::stack_span stack) noexcept : stack_(stack) {}
  void start(std::size_t num_bounces) {
    auto made = xcoro::xasync(stack_, xcoro_bounce, num_bounces);
    if (!made) {
      die("xasync failed");
    }
    frame_ = std::move(*made);
    handle_ = frame_.frame();
  }
  void resume() { xcoro::xresume(handle_); }
  void finish() {
    xcoro::xresume(handle_);
    if (frame_.status() != xcoro::status::done) {
      die("xcoro coroutine did not finish");
    }
    // Drop the finished frame now: the next start() reuses the same stack, and a frame_t
    // still pointing at the old record would find the new coroutine there.
    frame_ = {};
  }

 private:
  xcoro::stack_span stack_;
  xcoro::frame_t<void> frame_;
  xcoro::frame handle_ = nullptr;  // what zigcoro resumes: the untyped Frame
};

class fiber_bouncer {
 public:
  explicit fiber_bouncer(std::byte* stack) noexcept : stack_(stack) {}
  void start(std::size_t num_bounces) {
    fiber_ = bctx::fiber(std::allocator_arg, span_stack(stack_, stack_size),
                         [num_bounces](bctx::fiber&& caller) {
                           caller = std::move(caller).resume();
                           for (std::size_t i = 0; i < num_bounces; ++i) {
                             caller = std::move(caller).resume();
                           }
                           return std::move(caller);
                         });
    fiber_ = std::move(fiber_).resume();
  }
  void resume() { fiber_ = std::move(fiber_).resume(); }
  void finish() {
    fiber_ = std::move(fiber_).resume();
    if (fiber_) {
      die("boost fiber did not finish");
    }
  }

 private:
  std::byte* stack_;
  bctx::fiber fiber_;
};

class fcontext_bouncer {
 public:
  explicit fcontext_bouncer(std::byte* stack) noexcept : stack_(stack) {}
  void start(std::size_t num_bounces) {
    ctx_ = fc::make_fcontext(stack_ + stack_size, stack_size, &entry);
    ctx_ = fc::jump_fcontext(ctx_, &num_bounces).fctx;
  }
  void resume() { ctx_ = fc::jump_fcontext(ctx_, nullptr).fctx; }
  void finish() {
    fc::transfer_t t = fc::jump_fcontext(ctx_, nullptr);
    if (t.data != &fcontext_done_tag) {
      die("fcontext body did not finish");
    }
    ctx_ = nullptr;
  }

 private:
  static void entry(fc::transfer_t t) {
    // Read the count before the first switch back: it lives in start()'s frame.
    std::size_t num_bounces = *static_cast<std::size_t*>(t.data);
    t = fc::jump_fcontext(t.fctx, nullptr);
    for (std::size_t i = 0; i < num_bounces; ++i) {
      t = fc::jump_fcontext(t.fctx, nullptr);
    }
    // An fcontext entry function must never return (that exits the process); report the
    // end and never be resumed again.
    fc::jump_fcontext(t.fctx, &fcontext_done_tag);
    std::abort();
  }

  std::byte* stack_;
  fc::fcontext_t ctx_ = nullptr;
};

double median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// zigcoro's contextSwitchBm warm-up: 100,000 bounces on a fresh coroutine.
template <class Bouncer>
void context_switch_warm_up(Bouncer& b) {
  std::size_t num_bounces = 100000;
  b.start(num_bounces);
  for (std::size_t i = 0; i < num_bounces; ++i) {
    b.resume();
  }
  b.finish();
}

// zigcoro's contextSwitchBm measured run: 20,000,000 bounces, each counted as two
// switches. Prints zigcoro's line and returns the exact ns per switch.
template <class Bouncer>
double context_switch_run(const char* name, Bouncer& b) {
  std::size_t num_bounces = 20000000;
  b.start(num_bounces);
  auto start = clock_type::now();
  for (std::size_t i = 0; i < num_bounces; ++i) {
    b.resume();
  }
  auto end = clock_type::now();
  std::int64_t duration = elapsed_ns(start, end);
  auto switches = static_cast<std::int64_t>(num_bounces * 2);
  double exact = static_cast<double>(duration) / static_cast<double>(switches);
  std::printf("%s:\nns/ctxswitch: %lld\nns/ctxswitch (exact): %.2f\n", name,
              static_cast<long long>(duration / switches), exact);
  b.finish();
  return exact;
}

int context_switch_bm(const options& o) {
  // One 4096-byte, 16-aligned stack (zigcoro: allocator.alignedAlloc(u8, stack_alignment,
  // 1024 * 4)), reused by every run.
  constexpr std::align_val_t align{xcoro::stack_alignment};
  auto* stack = static_cast<std::byte*>(::operator new(stack_size, align));

  xcoro_bouncer x(xcoro::stack_span(stack, stack_size));
  fiber_bouncer f(stack);
  fcontext_bouncer c(stack);
  context_switch_warm_up(x);
  if (o.peers) {
    context_switch_warm_up(f);
    context_switch_warm_up(c);
  }
  // With --repeat, the implementations take turns, so that slow phases of a noisy host
  // fall on all of them alike; the medians are compared.
  std::vector<double> xs, fs, cs;
  for (std::size_t r = 0; r < o.repeat; ++r) {
    xs.push_back(context_switch_run("xcoro", x));
    if (o.peers) {
      fs.push_back(context_switch_run("boost_fiber", f));
      cs.push_back(context_switch_run("boost_fcontext", c));
    }
  }
  if (o.repeat > 1) {
    std::printf("median ns/ctxswitch over %zu runs: xcoro %.2f", o.repeat, median(xs));
    if (o.peers) {
      std::printf(", boost_fiber %.2f, boost_fcontext %.2f", median(fs), median(cs));
    }
    std::printf("\n");
  }
  if (o.peers) {
    std::printf("ratio xcoro/boost_fiber: %.2f\n", median(xs) / median(fs));
    std::printf("ratio xcoro/boost_fcontext: %.2f\n", median(xs) / median(cs));
  }
  ::operator delete(stack, align);
  return 0;
}

// ---------------------------------------------------------------------------------------
// --ncoros N
//
// Each implementation provides spawn(buf, n) (start n coroutines, coroutine i on the
// i-th 4096-byte stack of buf, each run to its first suspend) and resume_all() (resume
// every coroutine once, in array order). ncoros_run is zigcoro's ncorosBm loop around
// them.

void suspend_repeat() {
  xcoro::xsuspend();
  for (;;) {
    xcoro::xsuspend();
  }
}

class xcoro_ring {
 public:
  void spawn(std::byte* buf, std::size_t n) {
    // Deliberately leaked: destroying a frame_t whose coroutine is suspended unwinds it
    // (forced_unwind through its stack), and these never finish. Unwinding a million
    // coroutines would take seconds of exception handling that the benchmark is not
    // about, so the frame_t objects live until the process exits.
    frames_ = new std::vector<xcoro::frame_t<void>>();
    frames_->reserve(n);
    handles_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto made = xcoro::xasync(xcoro::stack_span(buf + i * stack_size, stack_size),
                                suspend_repeat);
      if (!made) {
        die("xasync failed");
      }
      frames_->push_back(std::move(*made));
      handles_.push_back(frames_->back().frame());
    }
  }
  void resume_all() {
    for (xcoro::frame c : handles_) {
      xcoro::xresume(c);
    }
  }

 private:
  std::vector<xcoro::frame_t<void>>* frames_ = nullptr;
  std::vector<xcoro::frame> handles_;
};

class fcontext_ring {
 public:
  void spawn(std::byte* buf, std::size_t n) {
    ctxs_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      fc::fcontext_t c = fc::make_fcontext(buf + (i + 1) * stack_size, stack_size, &entry);
      ctxs_.push_back(fc::jump_fcontext(c, nullptr).fctx);
    }
  }
  void resume_all() {
    // Raw fcontext hands back a new handle on every switch, so the array is rewritten.
    for (fc::fcontext_t& c : ctxs_) {
      c = fc::jump_fcontext(c, nullptr).fctx;
    }
  }

 private:
  static void entry(fc::transfer_t t) {
    t = fc::jump_fcontext(t.fctx, nullptr);
    for (;;) {
      t = fc::jump_fcontext(t.fctx, nullptr);
    }
  }

  std::vector<fc::fcontext_t> ctxs_;
};

class fiber_ring {
 public:
  void spawn(std::byte* buf, std::size_t n) {
    // Leaked for the same reason as xcoro's frames: ~fiber of a suspended fiber unwinds it.
    fibers_ = new std::vector<bctx::fiber>();
    fibers_->reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      bctx::fiber f(std::allocator_arg, span_stack(buf + i * stack_size, stack_size),
                    [](bctx::fiber&& caller) {
                      caller = std::move(caller).resume();
                      for (;;) {
                        caller = std::move(caller).resume();
                      }
                      return std::move(caller);
                    });
      fibers_->push_back(std::move(f).resume());
    }
  }
  void resume_all() {
    for (bctx::fiber& f : *fibers_) {
      f = std::move(f).resume();
    }
  }

 private:
  std::vector<bctx::fiber>* fibers_ = nullptr;
};

// zigcoro's ncorosBm. Returns the median exact ns per switch of the printed batches.
template <class Ring>
double ncoros_run(const char* name, Ring& ring, std::byte* buf, std::size_t num_coros,
                  std::size_t rounds, bool per_batch) {
  std::printf("%s:\n", name);
  std::printf("Running %zu coroutines for %zu rounds\n", num_coros, rounds);

  auto spawn_start = clock_type::now();
  ring.spawn(buf, num_coros);
  std::int64_t spawn_ns = elapsed_ns(spawn_start, clock_type::now());

  const std::size_t batching = num_coros >= 10000000 ? 1 : 10;
  std::vector<double> printed;
  std::vector<double> exact;

  auto start = clock_type::now();
  for (std::size_t i = 0; i < rounds; ++i) {
    ring.resume_all();
    if ((i + 1) % batching == 0) {
      auto end = clock_type::now();
      std::int64_t duration = elapsed_ns(start, end);
      auto switches = static_cast<std::int64_t>(batching * num_coros * 2);
      std::int64_t ns_per_bounce = duration / switches;
      if (i > 3 * batching) {  // warm-up
        if (per_batch) {
          std::printf("ns/ctxswitch: %lld\n", static_cast<long long>(ns_per_bounce));
        }
        printed.push_back(static_cast<double>(ns_per_bounce));
        exact.push_back(static_cast<double>(duration) / static_cast<double>(switches));
      }
      start = clock_type::now();
    }
  }
  std::printf("Ran %zu coroutines for %zu rounds\n", num_coros, rounds);

  double med = median(exact);
  std::printf("median ns/ctxswitch: %g (exact %.2f) over %zu batches\n", median(printed), med,
              printed.size());
  if (!exact.empty()) {
    // A round resumes and suspends every coroutine once; a batch is `batching` rounds, and
    // its exact ns/ctxswitch gives that batch's mean time per round.
    auto [lo, hi] = std::minmax_element(exact.begin(), exact.end());
    double ms_per_round = 2.0 * static_cast<double>(num_coros) / 1e6;  // times ns/ctxswitch
    double sum = 0;
    for (double e : exact) {
      sum += e;
    }
    std::printf("ms per round (mean of each batch of %zu): min %.3f, median %.3f, max %.3f; "
                "%.0f ms for the %zu timed batches\n",
                batching, *lo * ms_per_round, med * ms_per_round, *hi * ms_per_round,
                sum * ms_per_round * static_cast<double>(batching), exact.size());
  }
  std::printf("spawn: %.1f ns/coroutine\n",
              static_cast<double>(spawn_ns) / static_cast<double>(num_coros));
  std::printf("RSS now: %ld KiB, peak RSS (process so far): %ld KiB\n", current_rss_kib(),
              peak_rss_kib());
  return med;
}

int ncoros_bm(const options& o) {
  const std::size_t n = o.ncoros;
  const std::size_t bytes = n * stack_size;

  std::byte* xbuf = map_stacks(bytes);
  xcoro_ring x;
  double xcoro_ns = ncoros_run("xcoro", x, xbuf, n, o.rounds, o.per_batch);
  // The leaked frames' records still sit in xbuf and the thread's root record links to
  // them (its list of unfinished children), so the mapping must stay valid: give the
  // pages back to the kernel but keep the addresses. Nothing reads them again.
  madvise(xbuf, bytes, MADV_DONTNEED);

  if (o.peers) {
    // Peers run one after the other, each on its own buffer that is unmapped afterwards,
    // so at most two buffers' worth of address space (one of them released) exist at once.
    std::byte* fbuf = map_stacks(bytes);
    fcontext_ring c;
    double fcontext_ns = ncoros_run("boost_fcontext", c, fbuf, n, o.rounds, o.per_batch);
    munmap(fbuf, bytes);

    fbuf = map_stacks(bytes);
    fiber_ring f;
    double fiber_ns = ncoros_run("boost_fiber", f, fbuf, n, o.rounds, o.per_batch);
    // The leaked fibers point into fbuf but are never touched again.
    munmap(fbuf, bytes);

    std::printf("ratio xcoro/boost_fcontext: %.2f\n", xcoro_ns / fcontext_ns);
    std::printf("ratio xcoro/boost_fiber: %.2f\n", xcoro_ns / fiber_ns);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (int rc = parse_args(argc, argv, o); rc >= 0) {
    return rc;
  }
  std::printf("CPU: %s\n", cpu_model().c_str());
  std::printf("Running benchmark %s\n",
              o.which == mode::context_switch ? "context_switch" : "ncoros");
  return o.which == mode::context_switch ? context_switch_bm(o) : ncoros_bm(o);
}
