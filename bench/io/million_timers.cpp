// libuv's million_timers with xcoro: N timers (1,000,000 by default, as the benchmark's
// name says; libuv now uses 10,000,000), the timeout going up by 1 ms every 1,000 timers,
// so they span 1..N/1000 ms. libuv's timer is a handle with a callback; here each timer
// is a coroutine on its own 8 KiB stack (default pooled allocator) that does aio::sleep and
// then counts itself, so every timer also pays for a coroutine's creation, two switches
// and its destruction. Prints libuv's four phases and timers/s over the whole.
// Usage: million_timers [N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <xcoro/aio.hpp>

namespace aio = xcoro::aio;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 1000000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: million_timers [N]\n");
    return 2;
  }
  auto loop = aio::loop::create({.entries = 256});
  if (!loop) {
    std::fprintf(stderr, "million_timers: loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});

  long fired = 0;
  std::vector<xcoro::frame_t<void>> timers;
  timers.reserve(static_cast<std::size_t>(n));

  auto before_all = std::chrono::steady_clock::now();
  long timeout = 0;
  for (long i = 0; i < n; ++i) {
    if (i % 1000 == 0) {
      ++timeout;
    }
    // xasync from root runs the coroutine up to its first suspension: the sleep is armed
    // (its io_op on the coroutine's stack, in the loop's timer heap) before xasync returns.
    auto f = xcoro::xasync(
        std::size_t{8 * 1024},
        [](long ms, long* count) {
          if (aio::sleep(nullptr, aio::milliseconds(ms))) {
            ++*count;
          }
        },
        timeout, &fired);
    if (!f) {
      std::fprintf(stderr, "million_timers: xasync #%ld: %s\n", i, f.error().message().c_str());
      return 1;
    }
    timers.push_back(std::move(*f));
  }
  double init = seconds_since(before_all);

  auto before_run = std::chrono::steady_clock::now();
  while (ex.tick()) {
  }
  double dispatch = seconds_since(before_run);

  auto after_run = std::chrono::steady_clock::now();
  timers.clear();  // libuv closes its handles here; xcoro frees stacks
  double cleanup = seconds_since(after_run);
  double total = seconds_since(before_all);

  if (fired != n) {
    std::fprintf(stderr, "million_timers: %ld of %ld timers fired\n", fired, n);
    return 1;
  }
  std::printf("million_timers: %ld timers (coroutine + aio::sleep each, 8 KiB stacks)\n", n);
  std::printf("  %.2f seconds total\n", total);
  std::printf("  %.2f seconds init\n", init);
  std::printf("  %.2f seconds dispatch (the last timer is due after %ld ms)\n", dispatch,
              timeout);
  std::printf("  %.2f seconds cleanup\n", cleanup);
  std::printf("  %.0f timers/s (N / total)\n", static_cast<double>(n) / total);
  return 0;
}
