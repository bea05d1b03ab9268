// with_timeout, once per backend: one deadline over a multi-step exchange, results passed
// through when the child is in time, a child blocked in a channel or in IO, a zero timeout,
// nesting, a cancel from above, exceptions, calls from root, and the deadline's clock.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <thread>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/scope.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using WithTimeout = xcoro_test::aio_fixture;

// Three steps of 25 ms under one 60 ms deadline: the first two complete, the third is
// cancelled, and the whole call reports timed_out after at least 60 ms.
TEST_F(WithTimeout, OneDeadlineBoundsAMultiStepExchange) {
  int steps_done = 0;
  std::error_code third;
  auto r = aio::run(nullptr, [&] {
    auto t0 = clock_type::now();
    auto res = xcoro::with_timeout(60ms, [&]() -> xcoro::result<void> {
      for (int i = 0; i < 3; ++i) {
        auto s = aio::sleep(nullptr, 25ms);
        if (!s) {
          third = s.error();
          return s;
        }
        ++steps_done;
      }
      return {};
    });
    EXPECT_EQ(res.error(), std::errc::timed_out);
    EXPECT_GE(clock_type::now() - t0, 60ms);
    EXPECT_LT(clock_type::now() - t0, 10s);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(steps_done, 2);
  EXPECT_EQ(third, xcoro::errc::canceled);
}

// The loop comes late: another coroutine holds the thread from 10 ms to 130 ms, past both
// the 50 ms deadline and the child's sleep, due at 60 ms. The deadline was due first, so it
// fires first: the sleep ends cancelled and the call times out, as it would have without
// the stall (the CI run under load that found this saw the sleep complete first).
TEST_F(WithTimeout, ALateLoopFiresTheEarlierDeadlineFirst) {
  std::error_code slept;
  auto r = aio::run(nullptr, [&] {
    auto staller = xcoro::xasync([] {
      EXPECT_TRUE(aio::sleep(nullptr, 10ms));
      std::this_thread::sleep_for(120ms);  // the loop's thread, held without suspending
    });
    ASSERT_TRUE(staller);
    auto res = xcoro::with_timeout(50ms, [&]() -> xcoro::result<void> {
      auto s = aio::sleep(nullptr, 60ms);
      slept = s ? std::error_code() : s.error();
      return s;
    });
    EXPECT_EQ(res.error(), std::errc::timed_out);
    xcoro::xawait(*staller);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(slept, xcoro::errc::canceled);
}

TEST_F(WithTimeout, AChildInTimeReturnsItsResult) {
  auto r = aio::run(nullptr, [&] {
    xcoro::result<int> plain = xcoro::with_timeout(10s, [] { return 7; });
    EXPECT_EQ(*plain, 7);
    xcoro::result<std::string> passed = xcoro::with_timeout(10s, []() -> xcoro::result<std::string> {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      return std::string(40, 'p');
    });
    EXPECT_EQ(*passed, std::string(40, 'p')) << "a result<T> is passed through, not nested";
    xcoro::result<int> failed = xcoro::with_timeout(10s, []() -> xcoro::result<int> {
      return xcoro::errc::eof;
    });
    EXPECT_EQ(failed.error(), xcoro::errc::eof);
    xcoro::result<void> done = xcoro::with_timeout(10s, [](std::unique_ptr<int> p) { *p = 1; },
                                                   std::make_unique<int>(0));
    EXPECT_TRUE(done);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(ex()->tick()) << "every deadline was disarmed";
}

TEST_F(WithTimeout, AChildBlockedInAChannelOrARead) {
  xcoro::channel<std::string> ch({.capacity = 0});
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  aio::tcp end(nullptr, fds[0]);
  auto r = aio::run(nullptr, [&] {
    auto got = xcoro::with_timeout(20ms, [&] { return ch.recv(); });
    EXPECT_EQ(got.error(), std::errc::timed_out);
    auto read = xcoro::with_timeout(20ms, [&] {
      std::array<std::byte, 16> buf{};
      return end.read(buf);
    });
    EXPECT_EQ(read.error(), std::errc::timed_out);
  });
  ASSERT_TRUE(r) << r.error().message();
  ::close(fds[1]);
}

TEST_F(WithTimeout, AZeroTimeoutStartsTheChildCancelled) {
  auto r = aio::run(nullptr, [&] {
    bool requested = false;
    auto slept = xcoro::with_timeout(0ms, [&] {
      requested = xcoro::cancel_requested();
      return aio::sleep(nullptr, 10s);
    });
    EXPECT_TRUE(requested);
    EXPECT_EQ(slept.error(), std::errc::timed_out);
    // A child that succeeds all the same keeps its value: nothing is lost.
    auto value = xcoro::with_timeout(-1ms, []() -> xcoro::result<int> { return 5; });
    EXPECT_EQ(*value, 5);
  });
  ASSERT_TRUE(r) << r.error().message();
}

// The deadline cancels the child, shielded for its last step: it finishes that step and
// returns a value, which is returned rather than timed_out.
TEST_F(WithTimeout, AShieldedChildThatSucceedsKeepsItsValue) {
  auto r = aio::run(nullptr, [&] {
    auto t0 = clock_type::now();
    auto got = xcoro::with_timeout(10ms, []() -> xcoro::result<int> {
      xcoro::cancel_shield shield;
      if (auto s = aio::sleep(nullptr, 40ms); !s) {
        return s.error();
      }
      return 9;
    });
    EXPECT_EQ(*got, 9);
    EXPECT_GE(clock_type::now() - t0, 40ms);
  });
  ASSERT_TRUE(r) << r.error().message();
}

// The deadline flows down to what the child started, three levels deep.
TEST_F(WithTimeout, TheDeadlineReachesGrandchildren) {
  std::error_code deepest;
  auto r = aio::run(nullptr, [&] {
    auto res = xcoro::with_timeout(20ms, [&] {
      auto child = xcoro::xasync([&] {
        auto grandchild = xcoro::xasync([&] {
          auto s = aio::sleep(nullptr, 10s);
          deepest = s ? std::error_code() : s.error();
        });
        xcoro::xawait(*grandchild);
      });
      xcoro::xawait(*child);
    });
    EXPECT_EQ(res.error(), std::errc::timed_out);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(deepest, xcoro::errc::canceled);
}

TEST_F(WithTimeout, NestedDeadlinesTheOuterComesFirst) {
  auto r = aio::run(nullptr, [&] {
    xcoro::result<void> inner_result;
    auto outer = xcoro::with_timeout(20ms, [&]() -> xcoro::result<void> {
      inner_result = xcoro::with_timeout(10s, [] { return aio::sleep(nullptr, 10s); });
      return inner_result;
    });
    EXPECT_EQ(outer.error(), std::errc::timed_out);
    EXPECT_EQ(inner_result.error(), xcoro::errc::canceled)
        << "the inner deadline did not fire: its child was cancelled from above";
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(WithTimeout, ACancelOfTheCallerIsNotATimeout) {
  xcoro::result<void> got;
  auto f = xcoro::xasync([&] {
    got = xcoro::with_timeout(10s, [] { return aio::sleep(nullptr, 10s); });
  });
  ASSERT_TRUE(f);
  EXPECT_TRUE(xcoro::cancel(f->frame()));
  while (f->status() != xcoro::status::done && ex()->tick()) {
  }
  ASSERT_EQ(f->status(), xcoro::status::done);
  EXPECT_EQ(got.error(), xcoro::errc::canceled);
}

TEST_F(WithTimeout, FromRootItRunsTheLoop) {
  auto t0 = clock_type::now();
  auto res = xcoro::with_timeout(20ms, [] { return aio::sleep(nullptr, 10s); });
  EXPECT_EQ(res.error(), std::errc::timed_out);
  EXPECT_GE(clock_type::now() - t0, 20ms);
  auto quick = xcoro::with_timeout(10s, [] {
    EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    return std::string(30, 'q');
  });
  EXPECT_EQ(*quick, std::string(30, 'q'));
}

#if defined(__cpp_exceptions)
TEST_F(WithTimeout, TheChildsExceptionIsRethrown) {
  auto r = aio::run(nullptr, [&] {
    EXPECT_THROW((void)xcoro::with_timeout(10s, []() -> int { throw std::runtime_error("boom"); }),
                 std::runtime_error);
  });
  ASSERT_TRUE(r);
  EXPECT_FALSE(ex()->tick()) << "the deadline was disarmed on the way out";
}
#endif

TEST(WithTimeoutDeathTest, ADeadlineNeedsALoop) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor plain;
        xcoro::env e = xcoro::get_env();
        e.executor = &plain;
        xcoro::init_env(e);
        auto f = xcoro::xasync([] { (void)xcoro::with_timeout(10ms, [] { xcoro::xsuspend(); }); });
      },
      "xcoro: with_timeout: coroutine \\(id " XCORO_RE_ID
      "\\) has a deadline, but the env executor has no clock");
}

}  // namespace
