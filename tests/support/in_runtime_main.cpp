// The main of the suites that run again inside a runtime. With XCORO_TEST_RUNTIME=N in the
// environment, the whole suite runs in a coroutine on a worker of a runtime of N workers,
// since everything of the single-thread library must work there unchanged: channels, sync
// objects and executors made there are the worker's (shared objects take the runtime's
// lock), and nullptr executors mean the worker's. Without it, or where there are no
// runtimes (no aio: Windows), the suite runs as usual.
//
// A test that installs its own env (an executor fixture, a loop of its own) replaces the
// worker's for its duration; the listener below puts the worker's back after each test.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "xcoro/xcoro.hpp"

#if XCORO_WITH_AIO
namespace {

/// Saves the worker's envs before each test and restores them after it.
class restore_envs : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override {
    core_ = xcoro::get_env();
    aio_ = xcoro::aio::get_env();
  }
  void OnTestEnd(const ::testing::TestInfo&) override {
    xcoro::aio::init_env(aio_);
    xcoro::init_env(core_);
  }
  xcoro::env core_{};
  xcoro::aio::env aio_{};
};

/// Runs the suite inside a runtime of `workers` workers; the exit status.
int run_in_runtime(const char* workers) {
  xcoro::runtime_options o;
  o.threads = static_cast<unsigned>(std::atoi(workers));
  if (o.threads == 0) {
    std::fprintf(stderr, "XCORO_TEST_RUNTIME=%s: want a number of workers\n", workers);
    return 2;
  }
  auto rt = xcoro::runtime::create(o);
  if (!rt) {
    // A runtime needs an aio loop per worker: skipped (CTest's SKIP_RETURN_CODE) where the
    // backend asked for is missing.
    std::printf("no runtime here (%s): skipped\n", rt.error().message().c_str());
    return 77;
  }
  ::testing::UnitTest::GetInstance()->listeners().Append(new restore_envs);
  auto status = rt->block_on([] {
    // GoogleTest and the tests' own frames want more than a default coroutine stack.
    auto suite = xcoro::xasync(xcoro::stack_arg(std::size_t{8} << 20), [] {
      std::printf("running inside a runtime: worker %d\n", xcoro::this_worker());
      return RUN_ALL_TESTS();
    });
    return suite ? xcoro::xawait(*suite) : 1;
  });
  if (!status) {
    std::fprintf(stderr, "block_on: %s\n", status.error().message().c_str());
    return 1;
  }
  return *status;
}

}  // namespace
#endif

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
#if XCORO_WITH_AIO
  if (const char* workers = std::getenv("XCORO_TEST_RUNTIME")) {
    return run_in_runtime(workers);
  }
#endif
  return RUN_ALL_TESTS();
}
