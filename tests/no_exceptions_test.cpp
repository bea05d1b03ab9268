// Compiled with -fno-exceptions: what a consumer built without exceptions gets from the
// same library. Errors that would throw abort with a line naming the coroutine, and a
// destroyed suspended frame frees its stack without unwinding it.
#include <chrono>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "support/test_stacks.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/result.hpp"
#include "xcoro/sync.hpp"
#if defined(__linux__)
#include "xcoro/aio.hpp"
#endif

static_assert(!xcoro::detail::unwind_on_destroy, "this file must be built with -fno-exceptions");

namespace {

TEST(NoExceptionsDeathTest, ValueOnErrorAbortsNamingTheCoroutine) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] {
          xcoro::xframe()->set_name("careless");
          xcoro::result<int> r = xcoro::errc::eof;
          (void)r.value();
        });
      },
      "xcoro: xcoro::result::value\\(\\) on an error, in coroutine 'careless' \\(id " XCORO_RE_ID
      "\\)");
}

TEST(NoExceptionsDeathTest, ValueOnErrorInRoot) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  xcoro::result<void> r = xcoro::errc::channel_closed;
  EXPECT_DEATH(r.value(), "xcoro: xcoro::result::value\\(\\) on an error, in root coroutine");
}

TEST(NoExceptions, DestroyedSuspendedFrameIsFreedWithoutUnwinding) {
  int destructors = 0;
  bool reached = false;
  {
    auto f = xcoro::xasync([&] {
      struct counts {
        int* n;
        ~counts() { ++*n; }
      } c{&destructors};
      reached = true;
      xcoro::xsuspend();
    });
    ASSERT_TRUE(f);
    EXPECT_EQ(f->status(), xcoro::status::suspended);
  }
  EXPECT_TRUE(reached);
  EXPECT_EQ(destructors, 0);
  // The stack went back to the pool: the next coroutine runs normally.
  auto g = xcoro::xasync([] { return 7; });
  ASSERT_TRUE(g);
  EXPECT_EQ(xcoro::xawait(*g), 7);
}

// Without exceptions a destroyed frame cannot be unwound, and freeing the stack of one that
// waits would leave the wait queue, the executor or the loop pointing into freed memory (a
// segfault in the queue, or a loop that never finishes). It aborts naming the coroutine and
// the call it waits in.
TEST(NoExceptionsDeathTest, DestroyedWhileInChannelRecv) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::channel<std::string> ch({.capacity = 1, .executor = &ex});
        auto f = xcoro::xasync([&] {
          xcoro::xframe()->set_name("reader");
          return ch.recv();
        });
        f = {};
      },
      "xcoro: ~frame_t: coroutine 'reader' \\(id " XCORO_RE_ID
      "\\) was destroyed while waiting in channel::recv");
}

TEST(NoExceptionsDeathTest, DestroyedWhileInMutexLockAndXawait) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::env e = xcoro::get_env();
        e.executor = &ex;
        xcoro::init_env(e);
        xcoro::mutex m;
        EXPECT_TRUE(m.lock());  // root holds it
        auto f = xcoro::xasync([&] {
          xcoro::xframe()->set_name("locker");
          (void)m.lock();
        });
        f = {};
      },
      "coroutine 'locker' \\(id " XCORO_RE_ID "\\) was destroyed while waiting in mutex::lock");
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::env e = xcoro::get_env();
        e.executor = &ex;
        xcoro::init_env(e);
        auto slow = xcoro::xasync([] { xcoro::xsuspend(); });
        auto waiter = xcoro::xasync([&] {
          xcoro::xframe()->set_name("joiner");
          xcoro::xawait(*slow);
        });
        auto third = xcoro::xasync([&] { waiter = {}; });  // destroyed by a third coroutine
      },
      "coroutine 'joiner' \\(id " XCORO_RE_ID "\\) was destroyed while waiting in xawait");
}

#if defined(__linux__)
TEST(NoExceptionsDeathTest, DestroyedWhileInAioSleep) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        auto l = xcoro::aio::loop::create();
        if (!l) {
          std::abort();  // reported as a wrong message, with the loop's error unseen
        }
        xcoro::aio::executor ex(*l);
        auto f = xcoro::xasync([&] {
          xcoro::xframe()->set_name("sleeper");
          return xcoro::aio::sleep(&ex, std::chrono::milliseconds(10000));
        });
        f = {};
      },
      "coroutine 'sleeper' \\(id " XCORO_RE_ID "\\) was destroyed while waiting in aio::sleep");
}
#endif

}  // namespace
