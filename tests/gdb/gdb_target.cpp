// The program tests/gdb/run_gdb_test.sh debugs: it leaves coroutines in every state that
// `info xcoro` and `xcoro bt` have to show, then stops in gdb_stop_here(), called from a
// running coroutine, where the script's breakpoint (or its core file) looks at them.
//
//   id 1  "runner"      active: calls gdb_stop_here()
//   id 2  "alpha"       suspended in deep_function_b <- deep_function_a
//   id 3  "beta"        suspended generator, in generator_body's xyield
//   id 4  "parent"      suspended; started "child", so it is child's starter
//   id 5  "child"       suspended in child_body
//   id 6  "short"       done: started "orphan" and returned
//   id 7  "orphan"      suspended, starter gone: not in any children list
//   id 8  "unstarted"   created by frame_t::init, never resumed
//
// Without a debugger (and without the argument "abort") the program runs to the end and
// cleans up.
#include <cstdio>

#include "stop_here.hpp"
#include "xcoro/coro.hpp"

namespace {

int sink = 0;

[[gnu::noinline]] void deep_function_b(int depth) {
  sink += depth;
  xcoro::xsuspend();
  sink -= depth;
}

[[gnu::noinline]] void deep_function_a(int depth) {
  deep_function_b(depth + 1);
  sink += 1;
}

[[gnu::noinline]] void generator_body() {
  for (int i = 0;; ++i) {
    xcoro::frame_t<void, int>::xyield(i);
  }
}

[[gnu::noinline]] void child_body() {
  xcoro::xsuspend();
}

xcoro::frame_t<void> child_frame;
xcoro::frame_t<void> orphan_frame;

[[gnu::noinline]] void parent_body() {
  child_frame = std::move(xcoro::xasync([] {
    xcoro::xframe()->set_name("child");
    child_body();
  }).value());
  xcoro::xsuspend();
}

[[gnu::noinline]] void short_body() {
  orphan_frame = std::move(xcoro::xasync([] {
    xcoro::xframe()->set_name("orphan");
    xcoro::xsuspend();
  }).value());
}

}  // namespace

// Arguments: "abort" and "heap" (stop_here.hpp).
int main(int argc, char** argv) {
  if (gdb_test::parse_args(argc, argv)) {
    xcoro::get_env().stack_allocator = &xcoro::heap_stack_allocator();
  }
  // Created first (id 1), started last: gdb stops inside a coroutine, so the root is
  // suspended too.
  auto runner = xcoro::frame_t<void>::init({}, [] { gdb_stop_here(); }).value();
  runner.frame()->set_name("runner");

  auto alpha = xcoro::xasync([] {
    xcoro::xframe()->set_name("alpha");
    deep_function_a(1);
  }).value();

  auto beta = xcoro::frame_t<void, int>::init({}, [] { generator_body(); }).value();
  beta.frame()->set_name("beta");
  int first = beta.xnext_start();

  auto parent = xcoro::xasync([] {
    xcoro::xframe()->set_name("parent");
    parent_body();
  }).value();

  auto short_lived = xcoro::xasync([] {
    xcoro::xframe()->set_name("short");
    short_body();
  }).value();

  auto unstarted = xcoro::frame_t<void>::init({}, [] {}).value();
  unstarted.frame()->set_name("unstarted");

  xcoro::xresume(runner);

  // Destroying the suspended frames unwinds them (forced_unwind).
  orphan_frame = {};
  child_frame = {};
  std::printf("gdb_target: first=%d sink=%d\n", first, sink);
  return 0;
}
