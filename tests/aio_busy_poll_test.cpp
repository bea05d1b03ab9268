// The spin window behind loop_options::busy_poll (src/aio/busy_poll.hpp): what it decides
// from a sequence of sleeps. The loops that use it are exercised by aio_test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "aio/busy_poll.hpp"

namespace {

using xcoro::aio::detail::busy_poll_window;

constexpr std::int64_t us = 1000;

TEST(BusyPollWindow, FixedAlwaysSpinsTheLimit) {
  busy_poll_window w(50 * us, false);
  EXPECT_FALSE(w.adaptive());
  EXPECT_EQ(w.window_ns(), 50 * us);
  w.slept(10 * us);
  w.slept(1000000 * us);
  EXPECT_EQ(w.window_ns(), 50 * us);
}

TEST(BusyPollWindow, ZeroNeverSpins) {
  for (bool adaptive : {false, true}) {
    busy_poll_window w(0, adaptive);
    EXPECT_FALSE(w.adaptive());
    for (int i = 0; i < 10; ++i) {
      w.slept(1 * us);
      EXPECT_EQ(w.window_ns(), 0);
    }
  }
  EXPECT_EQ(busy_poll_window().window_ns(), 0);
}

TEST(BusyPollWindow, AdaptiveStartsClosedAndOpensOnShortSleeps) {
  busy_poll_window w(50 * us, true);
  EXPECT_TRUE(w.adaptive());
  EXPECT_EQ(w.window_ns(), 0);  // a new loop does not spin before it knows its traffic
  // A sleep of 60 us is within twice the limit: mostly wake-up, worth spinning through.
  w.slept(60 * us);
  EXPECT_EQ(w.window_ns(), busy_poll_window::first_ns);
  std::int64_t expected = busy_poll_window::first_ns;
  while (expected < 50 * us) {
    w.slept(30 * us);
    expected = std::min(2 * expected, 50 * us);
    EXPECT_EQ(w.window_ns(), expected);  // doubles, and never passes the limit
  }
  w.slept(100 * us);
  EXPECT_EQ(w.window_ns(), 50 * us);
}

TEST(BusyPollWindow, AdaptiveClosesOnALongSleep) {
  busy_poll_window w(50 * us, true);
  for (int i = 0; i < 5; ++i) {
    w.slept(5 * us);
  }
  ASSERT_EQ(w.window_ns(), 50 * us);
  w.slept(100 * us + 1);  // idle at this rate: spinning would have been wasted
  EXPECT_EQ(w.window_ns(), 0);
  w.slept(200 * us);
  EXPECT_EQ(w.window_ns(), 0);  // a slow trickle never opens it
}

TEST(BusyPollWindow, AdaptiveFirstStepIsBoundedByASmallLimit) {
  busy_poll_window w(busy_poll_window::first_ns / 2, true);
  w.slept(1 * us);
  EXPECT_EQ(w.window_ns(), busy_poll_window::first_ns / 2);
}

}  // namespace
