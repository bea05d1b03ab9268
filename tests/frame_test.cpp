// Tests of typed frames used as generators: xnext_start / xnext / xnext_end / xyield,
// injected values, exceptions through the generator protocol, and unwinding.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "xcoro/coro.hpp"

namespace {

using xcoro::frame_t;
using xcoro::status;

using iter_frame = frame_t<bool, std::size_t, std::size_t>;

bool iter_fn(std::size_t start) {
  std::size_t val = start;
  while (val < 10) {
    std::size_t inc = iter_frame::xyield(val);
    val += inc;
  }
  return val == 28;
}

// zigcoro test 4: "iterator".
TEST(Frame, Iterator) {
  auto it = iter_frame::init(nullptr, iter_fn, std::size_t{1});
  ASSERT_TRUE(it);
  EXPECT_EQ(it->xnext_start(), 1u);
  EXPECT_EQ(it->xnext(3), 4u);
  EXPECT_EQ(it->xnext(2), 6u);
  EXPECT_EQ(it->xnext_end(22), true);
  EXPECT_EQ(it->status(), status::done);
}

using words = frame_t<void, std::string>;

TEST(Frame, VoidInjectGenerator) {
  auto g = words::init(nullptr, [] {
    words::xyield("a");
    words::xyield("b");
  });
  ASSERT_TRUE(g);
  EXPECT_EQ(g->xnext_start(), "a");
  EXPECT_EQ(g->xnext(), "b");
  g->xnext_end();
  EXPECT_EQ(g->status(), status::done);
}

TEST(Frame, VoidYieldInjectOnly) {
  using sink = frame_t<int, void, int>;
  auto s = sink::init(nullptr, [] {
    int total = 0;
    for (int i = 0; i < 3; ++i) {
      total += sink::xyield();
    }
    return total;
  });
  ASSERT_TRUE(s);
  s->xnext_start();
  s->xnext(1);
  s->xnext(2);
  EXPECT_EQ(s->xnext_end(3), 6);
}

TEST(Frame, MoveOnlyYieldAndInject) {
  using mover = frame_t<int, std::unique_ptr<int>, std::unique_ptr<int>>;
  auto m = mover::init(nullptr, [] {
    std::unique_ptr<int> got = mover::xyield(std::make_unique<int>(1));
    return *got;
  });
  ASSERT_TRUE(m);
  std::unique_ptr<int> first = m->xnext_start();
  EXPECT_EQ(*first, 1);
  EXPECT_EQ(m->xnext_end(std::make_unique<int>(9)), 9);
}

TEST(Frame, ExceptionRethrownByXnext) {
  using gen = frame_t<void, int>;
  auto g = gen::init(nullptr, [] {
    gen::xyield(1);
    throw std::out_of_range("done early");
  });
  ASSERT_TRUE(g);
  EXPECT_EQ(g->xnext_start(), 1);
  EXPECT_THROW(g->xnext(), std::out_of_range);
  EXPECT_EQ(g->status(), status::done);
  EXPECT_THROW(g->xreturned(), std::out_of_range);
}

TEST(Frame, ExceptionRethrownByXnextStartAndEnd) {
  using gen = frame_t<int, int, int>;
  auto a = gen::init(nullptr, []() -> int { throw std::runtime_error("at start"); });
  ASSERT_TRUE(a);
  EXPECT_THROW(a->xnext_start(), std::runtime_error);

  auto b = gen::init(nullptr, []() -> int {
    gen::xyield(1);
    throw std::runtime_error("at end");
  });
  ASSERT_TRUE(b);
  EXPECT_EQ(b->xnext_start(), 1);
  EXPECT_THROW(b->xnext_end(0), std::runtime_error);
}

TEST(Frame, AbandonedGeneratorUnwinds) {
  using gen = frame_t<void, int>;
  auto live = std::make_shared<int>(0);
  std::weak_ptr<int> watch = live;
  {
    auto g = gen::init(nullptr, [](std::shared_ptr<int> p) {
      for (int i = 0;; ++i) {
        *p = i;
        gen::xyield(i);
      }
    }, std::move(live));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->xnext_start(), 0);
    EXPECT_EQ(g->xnext(), 1);
    EXPECT_FALSE(watch.expired());
  }
  EXPECT_TRUE(watch.expired());  // the argument and the stack's locals were destroyed
}

TEST(Frame, UnstartedFrameDestroysArguments) {
  auto live = std::make_shared<int>(0);
  std::weak_ptr<int> watch = live;
  {
    auto f = frame_t<void>::init(nullptr, [](std::shared_ptr<int>) {}, std::move(live));
    ASSERT_TRUE(f);
    EXPECT_EQ(f->status(), status::start);
  }
  EXPECT_TRUE(watch.expired());
}

TEST(Frame, MoveAssignDestroysPrevious) {
  int unwound = 0;
  struct guard {
    int* n;
    ~guard() { ++*n; }
  };
  auto a = xcoro::xasync([&] {
    guard g{&unwound};
    xcoro::xsuspend();
  });
  auto b = xcoro::xasync([] { return 3; });
  ASSERT_TRUE(a && b);
  frame_t<void> holder = std::move(*a);
  holder = frame_t<void>();
  EXPECT_EQ(unwound, 1);
  EXPECT_EQ(xcoro::xawait(*b), 3);
}

// An exception that ends a coroutine and that nothing rethrows (no xawait, xnext or
// xreturned) is reported when its frame goes, naming the coroutine and what(); one that
// was observed is not.
TEST(Frame, UnobservedExceptionIsReported) {
  testing::internal::CaptureStderr();
  {
    auto f = xcoro::xasync([] {
      xcoro::xframe()->set_name("thrower");
      throw std::runtime_error("disk on fire");
    });
    ASSERT_TRUE(f);
    EXPECT_EQ(f->status(), status::done);
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("xcoro: coroutine 'thrower' (id "), std::string::npos) << err;
  EXPECT_NE(err.find(") ended with an exception that nothing observed: disk on fire\n"),
            std::string::npos)
      << err;

  testing::internal::CaptureStderr();
  {
    auto f = xcoro::xasync([] { throw 42; });  // not a std::exception
    ASSERT_TRUE(f);
  }
  err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("an exception not derived from std::exception"), std::string::npos) << err;
}

TEST(Frame, ObservedExceptionIsNotReported) {
  testing::internal::CaptureStderr();
  {
    auto f = xcoro::xasync([] {
      xcoro::xsuspend();
      throw std::runtime_error("seen");
    });
    ASSERT_TRUE(f);
    // Observed from a third coroutine, not the starter.
    auto watcher = xcoro::xasync([&] {
      try {
        xcoro::xawait(*f);
      } catch (const std::runtime_error& e) {
        return std::string(e.what());
      }
      return std::string("nothing");
    });
    ASSERT_TRUE(watcher);
    xcoro::xresume(*f);
    // The watcher was not started by f's starter, so it waits through the env executor if
    // there is one; without one, resume it by hand once f is done.
    if (watcher->status() != status::done) {
      xcoro::xresume(*watcher);
    }
    EXPECT_EQ(xcoro::xawait(*watcher), "seen");
    using gen = frame_t<void, int>;
    auto g = gen::init(nullptr, [] {
      gen::xyield(1);
      throw std::logic_error("generator failed");
    });
    ASSERT_TRUE(g);
    EXPECT_EQ(g->xnext_start(), 1);
    EXPECT_THROW(g->xnext_end(), std::logic_error);
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "");
}

}  // namespace
