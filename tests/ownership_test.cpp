// Values that own memory pass through every container of the library and are destroyed
// exactly once: channels (buffered, rendezvous, closed with values inside, destroyed with
// values inside), select, generators' yielded and injected values, xawait results, and
// coroutines destroyed midway. Each test runs with a counting payload that detects double
// destruction and leaks, and most with std::string and std::unique_ptr too (AddressSanitizer
// sees a double free of their memory).
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/counted.hpp"
#include "support/executor_fixture.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/sync.hpp"

namespace {

using xcoro::channel;
using xcoro_test::counted;
using xcoro_test::ledger;

/// An executor fixture whose teardown checks that every counted value made in the test
/// was destroyed exactly once and never used after destruction.
class Ownership : public xcoro_test::executor_fixture {
 protected:
  void SetUp() override {
    executor_fixture::SetUp();
    ledger().reset();
  }
  void TearDown() override {
    EXPECT_EQ(ledger().live(), 0) << "counted values leaked";
    EXPECT_EQ(ledger().twice.load(), 0) << "counted values destroyed twice";
    EXPECT_EQ(ledger().dead_use.load(), 0) << "counted values used after destruction";
    executor_fixture::TearDown();
  }
};

/// Makes a T from an int for each payload type under test.
template <class T>
T make(int v);
template <>
counted make<counted>(int v) {
  return counted(v);
}
template <>
std::string make<std::string>(int v) {
  return std::string(64, static_cast<char>('a' + v % 26));  // past the small-string buffer
}
template <>
std::unique_ptr<int> make<std::unique_ptr<int>>(int v) {
  return std::make_unique<int>(v);
}

/// What a received T says its value was, or -1.
int value_of(const counted& c) {
  EXPECT_TRUE(c.intact());
  return c.value();
}
int value_of(const std::string& s) {
  return s.empty() ? -1 : s[0] - 'a';
}
int value_of(const std::unique_ptr<int>& p) {
  return p ? *p : -1;
}

template <class T>
class OwnedPayload : public Ownership {};
using payloads = ::testing::Types<counted, std::string, std::unique_ptr<int>>;
TYPED_TEST_SUITE(OwnedPayload, payloads);

// The channel destructor used to destroy every buffered value twice.
TYPED_TEST(OwnedPayload, ChannelDestroyedWithBufferedValues) {
  for (std::size_t cap : {1u, 2u, 5u}) {
    channel<TypeParam> ch({.capacity = cap});
    for (std::size_t i = 0; i < cap; ++i) {
      TypeParam v = make<TypeParam>(static_cast<int>(i));
      ASSERT_TRUE(ch.try_send(v));
    }
    if (cap > 1) {
      // Wrap the ring around: take one and put one back, so head is not slot 0.
      ASSERT_TRUE(ch.try_recv());
      TypeParam v = make<TypeParam>(9);
      ASSERT_TRUE(ch.try_send(v));
    }
  }
  if constexpr (std::is_same_v<TypeParam, counted>) {
    EXPECT_EQ(ledger().live(), 0);
    EXPECT_EQ(ledger().twice.load(), 0);
  }
}

TYPED_TEST(OwnedPayload, ClosedChannelDestroyedWithValuesInside) {
  channel<TypeParam> ch({.capacity = 3});
  ASSERT_TRUE(ch.send(make<TypeParam>(1)));
  ASSERT_TRUE(ch.send(make<TypeParam>(2)));
  ch.close();
  EXPECT_EQ(ch.send(make<TypeParam>(3)).error(), xcoro::errc::channel_closed);
  std::optional<TypeParam> first = ch.try_recv();
  ASSERT_TRUE(first);
  EXPECT_EQ(value_of(*first), 1);
  // The second value stays in the closed channel and dies with it.
}

TYPED_TEST(OwnedPayload, ValuesFlowThroughEveryCapacity) {
  for (std::size_t cap : {0u, 1u, 4u}) {
    channel<TypeParam> ch({.capacity = cap});
    int sum = 0;
    auto producer = xcoro::xasync([&] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(ch.send(make<TypeParam>(i)));
      }
      ch.close();
    });
    auto consumer = xcoro::xasync([&] {
      while (std::optional<TypeParam> v = ch.recv()) {
        sum += value_of(*v);
      }
    });
    ASSERT_TRUE(producer && consumer);
    this->drain();
    xcoro::xawait(*producer);
    xcoro::xawait(*consumer);
    EXPECT_EQ(sum, 190) << "capacity " << cap;
  }
}

// A rendezvous value handed to a receiver that is destroyed before it runs goes back to the
// channel; a receiver destroyed while it waits takes nothing with it.
TYPED_TEST(OwnedPayload, RendezvousReceiverDestroyedMidway) {
  channel<TypeParam> ch({.capacity = 0});
  {
    auto doomed = xcoro::xasync([&] { return ch.recv(); });
    ASSERT_TRUE(doomed);
    TypeParam v = make<TypeParam>(7);
    ASSERT_TRUE(ch.try_send(v));  // handed to `doomed`, which has not run yet
  }
  std::optional<TypeParam> back = ch.try_recv();
  ASSERT_TRUE(back);
  EXPECT_EQ(value_of(*back), 7);
  {
    auto waiting = xcoro::xasync([&] { return ch.recv(); });
    ASSERT_TRUE(waiting);
  }
  EXPECT_EQ(ch.size(), 0u);
}

// A sender destroyed while it waits on a full channel takes its value with it (destroyed
// once, by its unwound stack); the buffered values stay.
TYPED_TEST(OwnedPayload, SenderDestroyedWhileChannelIsFull) {
  channel<TypeParam> ch({.capacity = 1});
  ASSERT_TRUE(ch.send(make<TypeParam>(1)));
  {
    auto blocked = xcoro::xasync([&] { return ch.send(make<TypeParam>(2)); });
    ASSERT_TRUE(blocked);
    EXPECT_EQ(blocked->status(), xcoro::status::suspended);
  }
  std::optional<TypeParam> v = ch.try_recv();
  ASSERT_TRUE(v);
  EXPECT_EQ(value_of(*v), 1);
  EXPECT_FALSE(ch.try_recv());
}

TYPED_TEST(OwnedPayload, SelectMovesExactlyOneValue) {
  channel<TypeParam> a({.capacity = 1});
  channel<TypeParam> b({.capacity = 0});
  std::optional<TypeParam> got_a;
  std::optional<TypeParam> got_b;
  auto chooser = xcoro::xasync([&] {
    return xcoro::select(xcoro::recv_case(a, got_a), xcoro::recv_case(b, got_b));
  });
  ASSERT_TRUE(chooser);
  auto sender = xcoro::xasync([&] { return b.send(make<TypeParam>(4)); });
  ASSERT_TRUE(sender);
  this->drain();
  EXPECT_EQ(xcoro::xawait(*chooser), 1u);
  EXPECT_TRUE(xcoro::xawait(*sender));
  EXPECT_FALSE(got_a);
  ASSERT_TRUE(got_b);
  EXPECT_EQ(value_of(*got_b), 4);

  // A send case that fires moves the value out; one that does not leaves it in place.
  TypeParam out = make<TypeParam>(5);
  TypeParam kept = make<TypeParam>(6);
  EXPECT_EQ(xcoro::select(xcoro::send_case(b, kept), xcoro::send_case(a, out)), 1u);
  EXPECT_EQ(value_of(kept), 6);
  std::optional<TypeParam> in_a = a.try_recv();
  ASSERT_TRUE(in_a);
  EXPECT_EQ(value_of(*in_a), 5);
}

// A select destroyed after a rendezvous sender handed it a value gives the value back.
TYPED_TEST(OwnedPayload, SelectDestroyedAfterAHandOver) {
  channel<TypeParam> ch({.capacity = 0});
  channel<TypeParam> other({.capacity = 0});
  {
    auto chooser = xcoro::xasync([&] {
      std::optional<TypeParam> x;
      std::optional<TypeParam> y;
      return xcoro::select(xcoro::recv_case(other, y), xcoro::recv_case(ch, x));
    });
    ASSERT_TRUE(chooser);
    TypeParam v = make<TypeParam>(3);
    ASSERT_TRUE(ch.try_send(v));
  }
  std::optional<TypeParam> back = ch.try_recv();
  ASSERT_TRUE(back);
  EXPECT_EQ(value_of(*back), 3);
}

TYPED_TEST(OwnedPayload, GeneratorValuesBothWays) {
  using gen = xcoro::frame_t<TypeParam, TypeParam, TypeParam>;
  auto g = gen::init(xcoro::stack_arg(), [] {
    TypeParam in = gen::xyield(make<TypeParam>(1));
    TypeParam in2 = gen::xyield(make<TypeParam>(value_of(in) + 1));
    return make<TypeParam>(value_of(in2) + 1);
  });
  ASSERT_TRUE(g);
  EXPECT_EQ(value_of(g->xnext_start()), 1);
  EXPECT_EQ(value_of(g->xnext(make<TypeParam>(10))), 11);
  EXPECT_EQ(value_of(g->xnext_end(make<TypeParam>(20))), 21);
}

// A generator abandoned with a yielded value not taken, an injected one not taken, and a
// finished one whose result nobody took: all destroyed with the frame.
TYPED_TEST(OwnedPayload, AbandonedGeneratorsDestroyTheirSlots) {
  using gen = xcoro::frame_t<TypeParam, TypeParam, TypeParam>;
  {
    auto g = gen::init(xcoro::stack_arg(), [] {
      TypeParam local = make<TypeParam>(100);  // lives on the stack until the unwind
      (void)gen::xyield(make<TypeParam>(1));
      return make<TypeParam>(value_of(local));
    });
    ASSERT_TRUE(g);
    xcoro::xresume(g->frame());  // yields 1; nobody takes it
  }
  {
    auto g = gen::init(xcoro::stack_arg(), [] { return make<TypeParam>(2); });
    ASSERT_TRUE(g);
    xcoro::xresume(g->frame());  // finishes; its result is never taken
    EXPECT_EQ(g->status(), xcoro::status::done);
  }
}

TYPED_TEST(OwnedPayload, XawaitResultsAreMovedOutOnce) {
  auto single = xcoro::xasync([] {
    xcoro::xsuspend();
    return make<TypeParam>(1);
  });
  ASSERT_TRUE(single);
  auto waiter = xcoro::xasync([&] { return xcoro::xawait(std::move(*single)); });
  ASSERT_TRUE(waiter);
  xcoro::xresume(*single);
  this->drain();
  EXPECT_EQ(value_of(xcoro::xawait(std::move(*waiter))), 1);

  std::list<xcoro::frame_t<TypeParam>> many;  // any forward range, not only a vector
  for (int i = 0; i < 5; ++i) {
    many.push_back(std::move(*xcoro::xasync([i] { return make<TypeParam>(i); })));
  }
  std::vector<TypeParam> all = xcoro::xawait_all(many);
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(value_of(all[static_cast<std::size_t>(i)]), i);
  }
  EXPECT_EQ(xcoro::xawait_any(many), 0u);

  auto a = xcoro::xasync([] { return make<TypeParam>(3); });
  auto b = xcoro::xasync([] { return make<TypeParam>(4); });
  auto [ra, rb] = xcoro::xawait_all(*a, *b);
  EXPECT_EQ(value_of(ra), 3);
  EXPECT_EQ(value_of(rb), 4);
}

// A coroutine destroyed midway through a pipeline, with values in every stage: everything
// it held and everything buffered is destroyed once; the rest of the pipeline goes on.
TEST_F(Ownership, PipelineDestroyedMidway) {
  channel<counted> first({.capacity = 4});
  channel<counted> second({.capacity = 0});
  int received = 0;
  auto sink = xcoro::xasync([&] {
    while (std::optional<counted> v = second.recv()) {
      EXPECT_TRUE(v->intact());
      ++received;
    }
  });
  std::optional<xcoro::frame_t<void>> stage(std::move(*xcoro::xasync([&] {
    while (std::optional<counted> v = first.recv()) {
      counted held = std::move(*v);
      if (!second.send(std::move(held))) {
        return;
      }
    }
  })));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(first.send(counted(i)));
  }
  drain();
  EXPECT_GT(received, 0);
  for (int i = 0; i < 3; ++i) {
    counted v(10 + i);
    first.try_send(v);  // some fit, some stay with the test
  }
  stage.reset();  // the middle stage dies, holding or waiting with a value
  second.close();
  drain();
  xcoro::xawait(*sink);
}

// Coroutines destroyed while they wait on a mutex, a semaphore or a wait group, each
// holding a counted value on its stack: the value is destroyed once, and the primitive
// serves the next waiter.
TEST_F(Ownership, SyncWaitersDestroyedMidway) {
  xcoro::mutex m;
  xcoro::semaphore s(0);
  xcoro::wait_group wg;
  wg.add(1);
  int served = 0;
  auto holder = xcoro::xasync([&] {
    EXPECT_TRUE(m.lock());
    xcoro::xsuspend();
    m.unlock();
  });
  {
    auto on_mutex = xcoro::xasync([&] {
      counted mine(1);
      std::lock_guard<xcoro::mutex> hold(m);
      ADD_FAILURE() << "a destroyed waiter must not get the mutex";
    });
    auto on_sem = xcoro::xasync([&] {
      counted mine(2);
      EXPECT_TRUE(s.acquire());
      ADD_FAILURE() << "a destroyed waiter must not get the permit";
    });
    auto on_wg = xcoro::xasync([&] {
      counted mine(3);
      EXPECT_TRUE(wg.wait());
      ADD_FAILURE() << "a destroyed waiter must not see the group done";
    });
    EXPECT_EQ(ledger().live(), 3);
  }
  EXPECT_EQ(ledger().live(), 0);
  auto next = xcoro::xasync([&] {
    counted mine(4);
    std::lock_guard<xcoro::mutex> hold(m);
    EXPECT_TRUE(s.acquire());
    EXPECT_TRUE(wg.wait());
    ++served;
  });
  xcoro::xresume(*holder);
  s.release();
  wg.done();
  drain();
  xcoro::xawait(*next);
  EXPECT_EQ(served, 1);
}

// The payload type itself: it must see what it is there to see.
TEST(Counted, DetectsDoubleDestructionAndLeaks) {
  ledger().reset();
  {
    alignas(counted) unsigned char raw[sizeof(counted)];
    auto* c = ::new (raw) counted(1);
    EXPECT_EQ(ledger().live(), 1);
    c->~counted();
    EXPECT_EQ(ledger().live(), 0);
    c->~counted();  // the second destruction is caught, not performed
    EXPECT_EQ(ledger().twice.load(), 1);
  }
  {
    auto* leak = new counted(2);
    EXPECT_EQ(ledger().live(), 1);
    delete leak;
  }
  EXPECT_EQ(ledger().live(), 0);
  ledger().reset();
}

}  // namespace
