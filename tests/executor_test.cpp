// Tests of the FIFO executor: snapshot ticks, the queued-node check, cancellation, and
// waiting for coroutines through it (xawait from any coroutine, xawait_all, xawait_any).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/executor_fixture.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"

namespace {

struct recorder {
  std::vector<int>* log;
  int id;
  xcoro::executor* ex = nullptr;
  xcoro::executor::func* requeue = nullptr;
};

void record(void* p) {
  auto* r = static_cast<recorder*>(p);
  r->log->push_back(r->id);
  if (r->requeue != nullptr) {
    r->ex->run_soon(*r->requeue);
    r->requeue = nullptr;
  }
}

TEST(Executor, FifoAndSnapshotPerTick) {
  xcoro::executor ex;
  std::vector<int> log;
  recorder r1{&log, 1}, r2{&log, 2}, r3{&log, 3};
  xcoro::executor::func f1{record, &r1}, f2{record, &r2}, f3{record, &r3};
  r1.ex = &ex;
  r1.requeue = &f3;  // queued while tick runs: must wait for the next tick
  EXPECT_TRUE(ex.empty());
  EXPECT_FALSE(ex.tick());
  ex.run_soon(f1);
  ex.run_soon(f2);
  EXPECT_FALSE(ex.empty());
  EXPECT_TRUE(ex.tick());
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  EXPECT_TRUE(ex.tick());
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(ex.tick());
  // A node may be queued again once it ran.
  ex.run_soon(f1);
  EXPECT_TRUE(ex.tick());
  EXPECT_EQ(log.back(), 1);
}

TEST(Executor, Cancel) {
  xcoro::executor ex;
  std::vector<int> log;
  recorder r1{&log, 1}, r2{&log, 2}, r3{&log, 3};
  xcoro::executor::func f1{record, &r1}, f2{record, &r2}, f3{record, &r3};
  ex.run_soon(f1);
  ex.run_soon(f2);
  ex.run_soon(f3);
  EXPECT_TRUE(ex.cancel(f2));
  EXPECT_FALSE(ex.cancel(f2));
  EXPECT_TRUE(ex.cancel(f3));  // the tail
  ex.run_soon(f3);             // and the tail pointer still works
  EXPECT_TRUE(ex.tick());
  EXPECT_EQ(log, (std::vector<int>{1, 3}));
  EXPECT_TRUE(ex.empty());
}

// A function run by tick() cancels a node later in the same snapshot.
TEST(Executor, CancelFromInsideTheSnapshot) {
  xcoro::executor ex;
  std::vector<int> log;
  recorder r2{&log, 2}, r3{&log, 3};
  xcoro::executor::func f2{record, &r2}, f3{record, &r3};
  struct canceller {
    xcoro::executor* ex;
    xcoro::executor::func* victim;
    bool result = false;
  } c{&ex, &f2};
  xcoro::executor::func f1{[](void* p) {
                             auto* c = static_cast<canceller*>(p);
                             c->result = c->ex->cancel(*c->victim);
                           },
                           &c};
  ex.run_soon(f1);
  ex.run_soon(f2);
  ex.run_soon(f3);
  EXPECT_TRUE(ex.tick());
  EXPECT_TRUE(c.result);
  EXPECT_EQ(log, (std::vector<int>{3}));
}

TEST(ExecutorDeathTest, RunSoonOnQueuedNode) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::executor::func f;
        f.fn = [](void*) {};
        ex.run_soon(f);
        ex.run_soon(f);
      },
      "xcoro: run_soon: .*coroutine \\(id .*\\) queued an executor::func that is already "
      "queued");
}

using WithExecutor = xcoro_test::executor_fixture;

// xawait from a coroutine that did not start the frame: woken through the executor.
TEST_F(WithExecutor, AwaitFromAThirdCoroutine) {
  auto child = xcoro::xasync([] {
    xcoro::xsuspend();
    return 7;
  });
  ASSERT_TRUE(child);
  int got = 0;
  auto waiter = xcoro::xasync([&] { got = xcoro::xawait(*child); });
  ASSERT_TRUE(waiter);
  EXPECT_EQ(waiter->status(), xcoro::status::suspended);
  xcoro::xresume(*child);  // finishes into root, its starter, and wakes the waiter
  EXPECT_EQ(got, 0);
  EXPECT_FALSE(ex_.empty());
  drain();
  EXPECT_EQ(waiter->status(), xcoro::status::done);
  EXPECT_EQ(got, 7);
}

// A waiter woken by something else (its own child finishing) keeps waiting, and leaves
// nothing behind in any queue.
TEST_F(WithExecutor, AwaitSurvivesSpuriousWakeups) {
  auto target = xcoro::xasync([] {
    xcoro::xsuspend();
    return 1;
  });
  ASSERT_TRUE(target);
  xcoro::frame_t<void> own_child;
  int got = 0;
  auto waiter = xcoro::xasync([&] {
    auto c = xcoro::xasync([] { xcoro::xsuspend(); });
    own_child = std::move(*c);
    got = xcoro::xawait(*target);
  });
  ASSERT_TRUE(waiter);
  xcoro::xresume(own_child);  // finishes into the waiter: a spurious wake-up
  EXPECT_EQ(waiter->status(), xcoro::status::suspended);
  EXPECT_EQ(got, 0);
  xcoro::xresume(*target);
  drain();
  EXPECT_EQ(got, 1);
  EXPECT_EQ(waiter->status(), xcoro::status::done);
}

TEST_F(WithExecutor, AwaitAllTupleAndRange) {
  auto outer = xcoro::xasync([] {
    auto a = xcoro::xasync([] {
      xcoro::xsuspend();
      return 1;
    });
    auto b = xcoro::xasync([] { return std::string("two"); });
    auto c = xcoro::xasync([] {});
    xcoro::xresume(*a);
    auto [x, y, z] = xcoro::xawait_all(*a, *b, *c);
    static_assert(std::is_same_v<decltype(z), std::monostate>);
    std::vector<xcoro::frame_t<int>> many;
    for (int i = 0; i < 10; ++i) {
      many.push_back(std::move(*xcoro::xasync([](int v) { return v * v; }, i)));
    }
    std::vector<int> squares = xcoro::xawait_all(many);
    int sum = 0;
    for (int v : squares) {
      sum += v;
    }
    return x + static_cast<int>(y.size()) + sum;
  });
  ASSERT_TRUE(outer);
  EXPECT_EQ(xcoro::xawait(*outer), 1 + 3 + 285);
}

TEST_F(WithExecutor, AwaitAnyReturnsFirstFinished) {
  auto slow = xcoro::xasync([] {
    xcoro::xsuspend();
    xcoro::xsuspend();
    return 1;
  });
  auto fast = xcoro::xasync([] {
    xcoro::xsuspend();
    return 2;
  });
  ASSERT_TRUE(slow && fast);
  std::size_t which = 99;
  auto waiter = xcoro::xasync([&] { which = xcoro::xawait_any(*slow, *fast); });
  ASSERT_TRUE(waiter);
  xcoro::xresume(*slow);
  drain();
  EXPECT_EQ(which, 99u);
  xcoro::xresume(*fast);  // finishes: wakes the waiter through the executor
  drain();
  EXPECT_EQ(which, 1u);
  xcoro::xresume(*slow);  // the waiter's entry on `slow` must be gone by now
  EXPECT_EQ(xcoro::xawait(*slow), 1);
  EXPECT_TRUE(ex_.empty());
}

TEST_F(WithExecutor, AwaitAnyOfOwnChildren) {
  auto outer = xcoro::xasync([] {
    auto a = xcoro::xasync([] {
      xcoro::xsuspend();
      return 1;
    });
    auto b = xcoro::xasync([] { return 2; });  // already done
    std::size_t first = xcoro::xawait_any(*a, *b);
    xcoro::xresume(*a);
    return first;
  });
  ASSERT_TRUE(outer);
  EXPECT_EQ(xcoro::xawait(*outer), 1u);
}

TEST(ExecutorDeathTest, DestroyAwaitedFrame) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::get_env().executor = &ex;
        auto target = xcoro::xasync([] { xcoro::xsuspend(); });
        target->frame()->set_name("awaited");
        auto waiter = xcoro::xasync([&] { xcoro::xawait(*target); });
        *target = xcoro::frame_t<void>();
      },
      "xcoro: ~frame_t: coroutine 'awaited' \\(id " XCORO_RE_ID "\\) was destroyed while another "
      "coroutine awaits it");
}

}  // namespace
