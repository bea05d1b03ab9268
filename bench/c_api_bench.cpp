// c_api_bench: the context switch and a channel ping-pong through the C API
// (bench/c_api_bench.c) beside the same loops through the C++ API, in one process, on the
// same default stacks. Prints the median of each, the C/C++ ratio, and the machine. The
// last line compares the C ping-pong with a C++ one whose send and recv are called
// functions, as C's are, rather than inlined: each of its waits then returns after a
// switch, which the CPU mispredicts, as in C (docs/c-api.md, "Performance").
//   c_api_bench [--repeat 15] [--switches 2000000] [--round-trips 200000]
//               [--only switch|ping-pong|calls]
// --only runs one of the three comparisons (for instruction counts under callgrind).
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "bench_support.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"

extern "C" int c_switch_rounds(std::size_t n);
extern "C" int c_ping_pong(std::size_t n);

namespace {

using clock_type = std::chrono::steady_clock;

int cpp_switch_rounds(std::size_t n) {
  auto f = xcoro::frame_t<void>::init(nullptr, [] {
    for (;;) {
      xcoro::xsuspend();
    }
  });
  if (!f) {
    return -1;
  }
  xcoro::frame c = f->frame();
  for (std::size_t i = 0; i < n; ++i) {
    xcoro::xresume(c);
  }
  return 0;  // ~frame_t unwinds the suspended loop
}

int cpp_ping_pong(std::size_t n) {
  xcoro::executor ex;
  xcoro::channel<std::size_t> to({.capacity = 1, .executor = &ex});
  xcoro::channel<std::size_t> from({.capacity = 1, .executor = &ex});
  auto p = xcoro::xasync([&] {
    for (std::size_t i = 0; i < n; ++i) {
      (void)to.send(i);
      (void)from.recv();
    }
  });
  auto q = xcoro::xasync([&] {
    for (std::size_t i = 0; i < n; ++i) {
      std::optional<std::size_t> v = to.recv();
      (void)from.send(*v);
    }
  });
  if (!p || !q) {
    return -1;
  }
  while (ex.tick()) {
  }
  return p->status() == xcoro::status::done && q->status() == xcoro::status::done ? 0 : -1;
}

/// Send and recv in functions of their own, as a C caller has them.
[[gnu::noinline]] void called_send(xcoro::channel<std::size_t>& ch, std::size_t v) {
  (void)ch.send(v);
}
[[gnu::noinline]] std::optional<std::size_t> called_recv(xcoro::channel<std::size_t>& ch) {
  return ch.recv();
}

/// cpp_ping_pong through called_send and called_recv: a copy of its loops, so that the
/// baseline stays exactly as it was (a template over the two calls made g++ 12's inlined
/// form of it 80 instructions per round trip longer).
int cpp_ping_pong_called(std::size_t n) {
  xcoro::executor ex;
  xcoro::channel<std::size_t> to({.capacity = 1, .executor = &ex});
  xcoro::channel<std::size_t> from({.capacity = 1, .executor = &ex});
  auto p = xcoro::xasync([&] {
    for (std::size_t i = 0; i < n; ++i) {
      called_send(to, i);
      (void)called_recv(from);
    }
  });
  auto q = xcoro::xasync([&] {
    for (std::size_t i = 0; i < n; ++i) {
      std::optional<std::size_t> v = called_recv(to);
      called_send(from, *v);
    }
  });
  if (!p || !q) {
    return -1;
  }
  while (ex.tick()) {
  }
  return p->status() == xcoro::status::done && q->status() == xcoro::status::done ? 0 : -1;
}

/// Nanoseconds of `fn(n)` per one of its `units`.
template <class F>
double time_ns(F fn, std::size_t n, double units) {
  auto t0 = clock_type::now();
  if (fn(n) != 0) {
    xcoro_bench::fail("a run failed");
  }
  auto t1 = clock_type::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / units;
}

/// Runs the C and C++ versions alternately, `repeat` times each, and prints the medians.
template <class FC, class FCpp>
void compare(const char* what, const char* unit, FC c_fn, FCpp cpp_fn, std::size_t n,
             double units, int repeat) {
  std::vector<double> c, cpp;
  c_fn(n / 10);  // warm-up: stacks pooled, pages touched, branch predictors trained
  cpp_fn(n / 10);
  for (int i = 0; i < repeat; ++i) {
    c.push_back(time_ns(c_fn, n, units));
    cpp.push_back(time_ns(cpp_fn, n, units));
  }
  double mc = xcoro_bench::median(c), mcpp = xcoro_bench::median(cpp);
  std::printf("%-17s C API %7.2f ns/%s   C++ API %7.2f ns/%s   C/C++ %.3f\n", what, mc, unit,
              mcpp, unit, mc / mcpp);
}

}  // namespace

int main(int argc, char** argv) {
  xcoro_bench::program_name = "c_api_bench";
  int repeat = 15;
  std::size_t switches = 2000000, round_trips = 200000;
  const char* only = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeat") == 0) {
      repeat = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--switches") == 0) {
      switches = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (std::strcmp(argv[i], "--round-trips") == 0) {
      round_trips = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (std::strcmp(argv[i], "--only") == 0) {
      only = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: c_api_bench [--repeat N] [--switches N] [--round-trips N] "
                           "[--only switch|ping-pong|calls]\n");
      return 2;
    }
  }
  auto selected = [only](const char* name) {
    return only == nullptr || std::strcmp(only, name) == 0;
  };
  if (only != nullptr && !selected("switch") && !selected("ping-pong") && !selected("calls")) {
    std::fprintf(stderr, "c_api_bench: --only takes switch, ping-pong or calls\n");
    return 2;
  }
  if (repeat < 1 || switches < 20 || round_trips < 20) {
    std::fprintf(stderr, "c_api_bench: counts too small\n");
    return 2;
  }
  utsname u{};
  ::uname(&u);
  std::printf("c_api_bench: medians of %d runs, C and C++ alternating; library %s\n", repeat,
#if defined(XCORO_SHARED_LIBRARY)
              "shared (libxcoro.so)"
#else
              "static (libxcoro.a)"
#endif
  );
  std::printf("cpu: %s, cores: %ld, kernel: %s %s %s, load average: %s\n",
              xcoro_bench::cpu_model().c_str(), ::sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
              u.release, u.machine, xcoro_bench::load_average().c_str());
  // A resume and a suspend are two switches.
  if (selected("switch")) {
    compare("context switch", "switch", c_switch_rounds, cpp_switch_rounds, switches / 2,
            static_cast<double>(switches / 2 * 2), repeat);
  }
  if (selected("ping-pong")) {
    compare("ping-pong", "round trip", c_ping_pong, cpp_ping_pong, round_trips,
            static_cast<double>(round_trips), repeat);
  }
  if (selected("calls")) {
    compare("ping-pong, calls", "round trip", c_ping_pong, cpp_ping_pong_called, round_trips,
            static_cast<double>(round_trips), repeat);
  }
  return 0;
}
