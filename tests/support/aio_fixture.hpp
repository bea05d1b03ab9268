// A test fixture with an aio loop and executor installed in the thread's env (128 KiB
// default stacks), skipped where the backend chosen by XCORO_BACKEND is unavailable; it
// checks at the end that no wake-up was left queued, and restores the env.
#pragma once

#include <optional>
#include <utility>

#include <gtest/gtest.h>

#include "xcoro/aio.hpp"
#include "xcoro/coro.hpp"

namespace xcoro_test {

class aio_fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = xcoro::aio::loop::create();
    if (!l) {
      GTEST_SKIP() << "backend unavailable here: " << l.error().message();
    }
    loop_.emplace(std::move(*l));
    ex_.emplace(*loop_);
    saved_ = xcoro::aio::get_env();
    saved_base_ = xcoro::get_env();
    xcoro::aio::init_env({.executor = &*ex_, .default_stack_size = 128 * 1024});
  }
  void TearDown() override {
    if (ex_) {
      EXPECT_TRUE(ex_->exec().empty());
      xcoro::aio::init_env(saved_);
      xcoro::init_env(saved_base_);
    }
  }
  xcoro::aio::executor* ex() { return &*ex_; }

  std::optional<xcoro::aio::loop> loop_;
  std::optional<xcoro::aio::executor> ex_;
  xcoro::aio::env saved_;
  xcoro::env saved_base_;
};

}  // namespace xcoro_test
