// The runtime program tests/gdb/run_gdb_test.sh debugs: a runtime of two workers, each with
// coroutines suspended at a known point, stopped in gdb_stop_here() on worker 1, where the
// script's breakpoint (or its core file) looks at every worker.
//
//   worker 0  id 2 "w0-waiter-a", id 3 "w0-waiter-b"   suspended in gate.recv() in
//             waiter_body; made by the first block_on call (id 1, finished and gone)
//   worker 1  id 1 "w1-stopper"   active: the second block_on call, calls gdb_stop_here()
//             id 2 "w1-waiter"    suspended in gate.recv() in waiter_body
//
// Every coroutine is made with xasync, which pins it to its worker and runs it up to its
// first suspension at once, so each worker's state is settled before the next call starts:
// while gdb looks, worker 0 is parked with nothing to do. block_on hands its calls to the
// workers in turn; the program checks that, and exits with 2 if the calls landed elsewhere.
//
// Without a debugger (and without the argument "abort") the program closes the gate, lets
// every coroutine finish and cleans up.
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "stop_here.hpp"
#include "xcoro/xcoro.hpp"

namespace {

int received = 0;

std::optional<xcoro::channel<int>> gate;  // made on worker 0: shared by the workers
xcoro::frame_t<void> w0_waiter_a;
xcoro::frame_t<void> w0_waiter_b;

[[gnu::noinline]] void waiter_body(const char* name) {
  xcoro::xframe()->set_name(name);
  while (gate->recv()) {
    ++received;
  }
}

void require_worker(int want, const char* what) {
  if (xcoro::this_worker() != want) {
    std::fprintf(stderr, "gdb_runtime_target: %s ran on worker %d, not %d\n", what,
                 xcoro::this_worker(), want);
    std::exit(2);
  }
}

}  // namespace

// Arguments: "abort" and "heap" (stop_here.hpp).
int main(int argc, char** argv) {
  const bool heap = gdb_test::parse_args(argc, argv);
  auto rt = xcoro::runtime::create({.threads = 2});
  if (!rt) {
    std::fprintf(stderr, "gdb_runtime_target: no runtime: %s\n", rt.error().message().c_str());
    return 77;
  }
  auto use_heap = [heap] {
    if (heap) {
      xcoro::get_env().stack_allocator = &xcoro::heap_stack_allocator();
    }
  };
  auto setup = rt->block_on([&] {
    use_heap();
    require_worker(0, "the first call");
    xcoro::xframe()->set_name("w0-setup");
    gate.emplace(xcoro::channel_options{.capacity = 0});
    w0_waiter_a = std::move(xcoro::xasync(waiter_body, "w0-waiter-a").value());
    w0_waiter_b = std::move(xcoro::xasync(waiter_body, "w0-waiter-b").value());
  });
  auto stop = rt->block_on([&] {
    use_heap();
    require_worker(1, "the second call");
    xcoro::xframe()->set_name("w1-stopper");
    auto waiter = xcoro::xasync(waiter_body, "w1-waiter").value();
    gdb_stop_here();
    gate->send(1).value();  // to one of the three waiters, on either worker
    gate->close();          // wakes the others
    xcoro::xawait(waiter);
  });
  auto cleanup = rt->block_on([&] {
    require_worker(0, "the third call");
    xcoro::xawait(w0_waiter_a);
    xcoro::xawait(w0_waiter_b);
    w0_waiter_a = {};
    w0_waiter_b = {};
    gate.reset();
  });
  if (!setup || !stop || !cleanup) {
    std::fprintf(stderr, "gdb_runtime_target: a block_on call failed\n");
    return 1;
  }
  std::printf("gdb_runtime_target: received=%d\n", received);
  return received == 1 ? 0 : 1;
}
