// Compiled with -fno-exceptions: what a consumer built without exceptions gets from the
// same library. Errors that would throw abort with a line naming the coroutine, and a
// destroyed suspended frame frees its stack without unwinding it.
#include <gtest/gtest.h>

#include "support/test_stacks.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/result.hpp"

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

}  // namespace
