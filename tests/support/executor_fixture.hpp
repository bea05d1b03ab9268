// A test fixture with an executor installed in the thread's env, checked empty at the end
// (no wake-up left queued), and the env restored.
#pragma once

#include <gtest/gtest.h>

#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"

namespace xcoro_test {

class executor_fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = xcoro::get_env();
    xcoro::get_env().executor = &ex_;
  }
  void TearDown() override {
    EXPECT_TRUE(ex_.empty());
    xcoro::init_env(saved_);
  }
  /// Ticks until nothing is ready.
  void drain() {
    while (ex_.tick()) {
    }
  }
  xcoro::executor ex_;
  xcoro::env saved_;
};

}  // namespace xcoro_test
