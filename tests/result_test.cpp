// Tests of xcoro::result<T> and the "xcoro" error category.
#include <memory>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "xcoro/result.hpp"

namespace {

TEST(Result, ValueAndError) {
  xcoro::result<int> ok = 5;
  EXPECT_TRUE(ok.has_value());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_EQ(*ok, 5);
  EXPECT_EQ(ok.value(), 5);
  EXPECT_FALSE(ok.error());

  xcoro::result<int> bad = xcoro::errc::eof;
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error(), xcoro::errc::eof);
  EXPECT_THROW(bad.value(), std::system_error);
}

TEST(Result, OsErrorsCompareWithStdErrc) {
#if defined(_WIN32)
  GTEST_SKIP() << "errno values in std::system_category are the POSIX convention (the aio "
                  "layer's); on Windows that category holds Win32 error codes";
#endif
  xcoro::result<std::string> r = std::error_code(ECONNREFUSED, std::system_category());
  EXPECT_EQ(r.error(), std::errc::connection_refused);
}

TEST(Result, Category) {
  EXPECT_STREQ(xcoro::category().name(), "xcoro");
  std::error_code ec = xcoro::errc::channel_closed;
  EXPECT_EQ(&ec.category(), &xcoro::category());
  EXPECT_EQ(ec.message(), "channel closed");
  EXPECT_NE(xcoro::make_error_code(xcoro::errc::deadlock), xcoro::errc::eof);
}

TEST(Result, MoveOnly) {
  xcoro::result<std::unique_ptr<int>> r = std::make_unique<int>(3);
  xcoro::result<std::unique_ptr<int>> moved = std::move(r);
  ASSERT_TRUE(moved);
  EXPECT_EQ(**moved, 3);
  std::unique_ptr<int> out = std::move(moved).value();
  EXPECT_EQ(*out, 3);
}

TEST(Result, Void) {
  xcoro::result<void> ok;
  EXPECT_TRUE(ok);
  EXPECT_NO_THROW(ok.value());
  xcoro::result<void> bad = xcoro::errc::canceled;
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error(), xcoro::errc::canceled);
  EXPECT_THROW(bad.value(), std::system_error);
}

TEST(Result, CopyAndAssign) {
  xcoro::result<std::string> a = std::string("x");
  xcoro::result<std::string> b = xcoro::errc::eof;
  b = a;
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, "x");
  a = xcoro::errc::stack_overflow;
  EXPECT_EQ(a.error(), xcoro::errc::stack_overflow);
  EXPECT_EQ(b->size(), 1u);
}

}  // namespace
