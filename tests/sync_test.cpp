// Tests of mutex, semaphore and wait_group: they suspend the coroutine, serve waiters in
// FIFO order, and give back what an unwound waiter was handed.
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/executor_fixture.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/sync.hpp"

namespace {

using Sync = xcoro_test::executor_fixture;

TEST_F(Sync, MutexIsFifoAndExclusive) {
  xcoro::mutex m;
  std::vector<int> order;
  int inside = 0;
  int max_inside = 0;
  std::vector<xcoro::frame_t<void>> workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(std::move(*xcoro::xasync([&, i] {
      std::lock_guard<xcoro::mutex> hold(m);
      ++inside;
      max_inside = std::max(max_inside, inside);
      order.push_back(i);
      xcoro::xsuspend();  // hold it across a suspension
      --inside;
    })));
  }
  // Worker 0 holds it and is suspended; 1..3 wait in order.
  EXPECT_FALSE(m.try_lock());
  xcoro::xresume(workers[0]);
  drain();
  for (int i = 1; i < 4; ++i) {
    xcoro::xresume(workers[i]);
    drain();
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(max_inside, 1);
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST_F(Sync, MutexHandedToUnwoundWaiterIsPassedOn) {
  xcoro::mutex m;
  bool third_got_it = false;
  auto holder = xcoro::xasync([&] {
    EXPECT_TRUE(m.lock());
    xcoro::xsuspend();
    m.unlock();  // hands it to `second`, whose wake-up is then queued
  });
  {
    auto second = xcoro::xasync([&] {
      std::lock_guard<xcoro::mutex> hold(m);
    });
    auto third = xcoro::xasync([&] {
      std::lock_guard<xcoro::mutex> hold(m);
      third_got_it = true;
    });
    xcoro::xresume(*holder);
    second = {};  // unwound while it owns the mutex: gives it to `third`
    drain();
    EXPECT_TRUE(third_got_it);
  }
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST_F(Sync, SemaphoreCountsAndHandsOff) {
  xcoro::semaphore s(2);
  int running = 0;
  int peak = 0;
  std::vector<xcoro::frame_t<void>> tasks;
  for (int i = 0; i < 5; ++i) {
    tasks.push_back(std::move(*xcoro::xasync([&] {
      EXPECT_TRUE(s.acquire());
      ++running;
      peak = std::max(peak, running);
      xcoro::xsuspend();
      --running;
      s.release();
    })));
  }
  EXPECT_EQ(running, 2);
  EXPECT_EQ(s.available(), 0u);
  EXPECT_FALSE(s.try_acquire());
  for (int round = 0; round < 5; ++round) {
    for (auto& t : tasks) {
      if (t.status() == xcoro::status::suspended && running > 0) {
        xcoro::xresume(t);
      }
    }
    drain();
  }
  for (auto& t : tasks) {
    if (t.status() != xcoro::status::done) {
      xcoro::xresume(t);
      drain();
    }
  }
  EXPECT_EQ(peak, 2);
  EXPECT_EQ(s.available(), 2u);
}

TEST_F(Sync, WaitGroupWakesAllAtZero) {
  xcoro::wait_group wg;
  wg.add(3);
  int woken = 0;
  std::vector<xcoro::frame_t<void>> waiters;
  for (int i = 0; i < 2; ++i) {
    waiters.push_back(std::move(*xcoro::xasync([&] {
      EXPECT_TRUE(wg.wait());
      ++woken;
    })));
  }
  wg.done();
  wg.done();
  drain();
  EXPECT_EQ(woken, 0);
  wg.done();
  drain();
  EXPECT_EQ(woken, 2);
  auto late = xcoro::xasync([&] { EXPECT_TRUE(wg.wait()); });  // at zero: does not suspend
  EXPECT_EQ(late->status(), xcoro::status::done);
}

TEST(SyncDeathTest, UnlockByNonHolder) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::mutex m(&ex);
        m.unlock();
      },
      "xcoro: mutex::unlock: .*coroutine \\(id .*\\) does not hold this mutex");
}

TEST(SyncDeathTest, RecursiveLock) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::mutex m(&ex);
        auto f = xcoro::xasync([&] {
          EXPECT_TRUE(m.lock());
          (void)m.lock();
        });
      },
      "xcoro: mutex::lock: coroutine \\(id " XCORO_RE_ID "\\) already holds this mutex");
}

TEST(SyncDeathTest, DoneTooOften) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::wait_group wg(&ex);
        wg.done();
      },
      "xcoro: wait_group::done: .*coroutine \\(id .*\\) called done\\(\\) more times than "
      "add\\(\\)");
}

}  // namespace
