// Cancellation and deadlines of the waits in channels, select and the sync primitives,
// once per backend (deadlines run on the loop's timers): each blocking call cancelled while
// suspended in it and before reaching it, from root, from a sibling and from a third
// coroutine; waits already satisfied when the cancel comes; a shield holding a cancel back;
// timeouts on send, recv and select; try_select; and no value, lock or permit lost.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "support/counted.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/scope.hpp"
#include "xcoro/sync.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using xcoro::channel;
using xcoro::status;
using xcoro_test::counted;
using xcoro_test::ledger;
using WaitCancel = xcoro_test::aio_fixture;

/// Every kind of wait, set up so that each call blocks: a full buffered channel, a
/// rendezvous channel nobody receives from or sends to, an empty one, a mutex that root
/// holds, a semaphore and a wait_group at zero.
struct blocked_world {
  channel<std::string> full{{.capacity = 1}};
  channel<std::string> rendezvous{{.capacity = 0}};
  channel<std::string> empty{{.capacity = 4}};
  xcoro::mutex m;
  xcoro::semaphore sem{0};
  xcoro::wait_group wg;

  blocked_world() {
    EXPECT_TRUE(full.try_send(*std::make_unique<std::string>(40, 'f')));
    EXPECT_TRUE(m.try_lock());  // held by root
    wg.add(1);
  }
  ~blocked_world() {
    m.unlock();
    wg.done();
  }
};

struct blocking_call {
  const char* name;
  std::function<std::error_code(blocked_world&)> run;
};

std::error_code code_of(const xcoro::result<void>& r) {
  return r ? std::error_code() : r.error();
}

/// recv() says nullopt; the reason is the coroutine's cancel.
std::error_code recv_code(const std::optional<std::string>& v) {
  if (v) {
    return std::make_error_code(std::errc::bad_message);  // should not have got a value
  }
  return xcoro::cancel_requested() ? std::error_code(xcoro::errc::canceled)
                                   : std::error_code(xcoro::errc::channel_closed);
}

std::vector<blocking_call> blocking_calls() {
  return {
      {"channel::send (buffered)",
       [](blocked_world& w) { return code_of(w.full.send(std::string(50, 's'))); }},
      {"channel::send (rendezvous)",
       [](blocked_world& w) { return code_of(w.rendezvous.send(std::string(50, 'r'))); }},
      {"channel::send with a deadline",
       [](blocked_world& w) { return code_of(w.full.send(std::string(50, 'd'), 10s)); }},
      {"channel::recv", [](blocked_world& w) { return recv_code(w.empty.recv()); }},
      {"channel::recv (rendezvous)",
       [](blocked_world& w) { return recv_code(w.rendezvous.recv()); }},
      {"channel::recv with a deadline",
       [](blocked_world& w) {
         auto r = w.empty.recv(10s);
         return r ? std::make_error_code(std::errc::bad_message) : r.error();
       }},
      {"select",
       [](blocked_world& w) {
         std::optional<std::string> a, b;
         std::string v(50, 'x');
         auto r = xcoro::select(xcoro::recv_case(w.empty, a), xcoro::recv_case(w.rendezvous, b),
                                xcoro::send_case(w.full, v));
         EXPECT_FALSE(a || b);
         EXPECT_EQ(v, std::string(50, 'x')) << "the send case must not have fired";
         return r ? std::make_error_code(std::errc::bad_message) : r.error();
       }},
      {"select with a deadline",
       [](blocked_world& w) {
         std::optional<std::string> a;
         auto r = xcoro::select(10s, xcoro::recv_case(w.empty, a));
         return r ? std::make_error_code(std::errc::bad_message) : r.error();
       }},
      {"mutex::lock", [](blocked_world& w) { return code_of(w.m.lock()); }},
      {"semaphore::acquire", [](blocked_world& w) { return code_of(w.sem.acquire()); }},
      {"wait_group::wait", [](blocked_world& w) { return code_of(w.wg.wait()); }},
  };
}

/// Pumps the loop until `f` is done (bounded, so that a lost wake-up fails rather than
/// hangs).
template <class Frame>
void pump_until_done(aio::executor* ex, Frame& f) {
  for (int i = 0; i < 1000 && f.status() != status::done; ++i) {
    if (!ex->tick()) {
      break;
    }
  }
}

TEST_F(WaitCancel, EachCallCancelledWhileSuspendedFromRoot) {
  for (const blocking_call& call : blocking_calls()) {
    SCOPED_TRACE(call.name);
    blocked_world w;
    std::error_code got;
    auto t0 = clock_type::now();
    auto f = xcoro::xasync([&] { got = call.run(w); });
    ASSERT_TRUE(f);
    ASSERT_EQ(f->status(), status::suspended);
    EXPECT_TRUE(xcoro::cancel(f->frame()));
    EXPECT_EQ(f->status(), status::suspended) << "woken through the executor, not by cancel";
    pump_until_done(ex(), *f);
    ASSERT_EQ(f->status(), status::done);
    EXPECT_EQ(got, xcoro::errc::canceled);
    EXPECT_LT(clock_type::now() - t0, 10s) << "the deadline must not have ended it";
  }
}

TEST_F(WaitCancel, EachCallCancelledBeforeReachingIt) {
  for (const blocking_call& call : blocking_calls()) {
    SCOPED_TRACE(call.name);
    blocked_world w;
    std::error_code got;
    int suspends = 0;
    auto f = xcoro::xasync([&] {
      xcoro::xsuspend();
      xcoro::frame self = xcoro::xframe();
      std::uint64_t before = self->invocation();
      got = call.run(w);
      suspends = static_cast<int>(self->invocation() - before);
    });
    ASSERT_TRUE(f);
    EXPECT_TRUE(xcoro::cancel(f->frame()));
    xcoro::xresume(*f);
    ASSERT_EQ(f->status(), status::done) << "returned at once, without suspending";
    EXPECT_EQ(suspends, 0);
    EXPECT_EQ(got, xcoro::errc::canceled);
  }
}

// Also when the call could complete at once: a cancelled coroutine's blocking calls all
// return errc::canceled, and the buffered value stays in the channel.
TEST_F(WaitCancel, ACancelledCallDoesNotCompleteEvenIfItCould) {
  channel<counted> ch({.capacity = 2});
  xcoro::mutex m;
  xcoro::semaphore sem(1);
  ledger().reset();
  {
    counted v(5);
    ASSERT_TRUE(ch.try_send(v));
  }
  auto f = xcoro::xasync([&] {
    xcoro::xsuspend();
    EXPECT_EQ(ch.send(counted(6)).error(), xcoro::errc::canceled);
    EXPECT_FALSE(ch.recv().has_value());
    EXPECT_EQ(ch.recv(1s).error(), xcoro::errc::canceled);
    EXPECT_EQ(m.lock().error(), xcoro::errc::canceled);
    EXPECT_EQ(sem.acquire().error(), xcoro::errc::canceled);
    std::optional<counted> out;
    EXPECT_EQ(xcoro::select(xcoro::recv_case(ch, out)).error(), xcoro::errc::canceled);
    EXPECT_FALSE(out.has_value());
  });
  ASSERT_TRUE(f);
  xcoro::cancel(f->frame());
  xcoro::xresume(*f);
  ASSERT_EQ(f->status(), status::done);
  EXPECT_EQ(ch.size(), 1u) << "the buffered value stays";
  EXPECT_TRUE(m.try_lock());
  m.unlock();
  EXPECT_EQ(sem.available(), 1u);
  EXPECT_EQ(ch.try_recv()->value(), 5);
  EXPECT_EQ(ledger().live(), 0);
  EXPECT_EQ(ledger().twice, 0);
}

// The canceller is a sibling (started by the same coroutine) or a third coroutine started
// elsewhere; it keeps running after cancel() returns, and the cancelled call ends.
TEST_F(WaitCancel, EachCallCancelledFromASiblingAndFromAThirdCoroutine) {
  for (const blocking_call& call : blocking_calls()) {
    SCOPED_TRACE(call.name);
    blocked_world w;
    std::error_code by_sibling, by_third;
    int canceller_steps = 0;
    auto r = aio::run(nullptr, [&] {
      auto victim = xcoro::xasync([&] { by_sibling = call.run(w); });
      auto sibling = xcoro::xasync([&] {
        EXPECT_TRUE(xcoro::cancel(victim->frame()));
        ++canceller_steps;
      });
      std::optional<xcoro::frame_t<void>> other;
      auto starter = xcoro::xasync([&] {
        other.emplace(std::move(*xcoro::xasync([&] { by_third = call.run(w); })));
      });
      auto third = xcoro::xasync([&] {
        EXPECT_TRUE(xcoro::cancel(other->frame()));
        ++canceller_steps;
      });
      xcoro::xawait(*victim);
      xcoro::xawait(*other);
      xcoro::xawait(*sibling);
      xcoro::xawait(*third);
      xcoro::xawait(*starter);
    });
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(canceller_steps, 2);
    EXPECT_EQ(by_sibling, xcoro::errc::canceled);
    EXPECT_EQ(by_third, xcoro::errc::canceled);
  }
}

TEST_F(WaitCancel, ARendezvousValueTakenBeforeTheCancelIsSent) {
  channel<counted> ch({.capacity = 0});
  ledger().reset();
  xcoro::result<void> sent = xcoro::errc::deadlock;
  std::optional<counted> got;
  auto sender = xcoro::xasync([&] { sent = ch.send(counted(7)); });
  auto receiver = xcoro::xasync([&] { got = ch.recv(); });  // takes it; sender not yet run
  ASSERT_TRUE(sender && receiver);
  ASSERT_EQ(sender->status(), status::suspended);
  EXPECT_TRUE(xcoro::cancel(sender->frame()));
  pump_until_done(ex(), *sender);
  ASSERT_EQ(sender->status(), status::done);
  EXPECT_TRUE(sent) << "the value was delivered: success, not errc::canceled";
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->value(), 7);
  got.reset();
  EXPECT_EQ(ledger().live(), 0);
}

TEST_F(WaitCancel, AHandedValueIsReturnedByACancelledReceiver) {
  channel<counted> ch({.capacity = 0});
  ledger().reset();
  std::optional<counted> got;
  auto receiver = xcoro::xasync([&] { got = ch.recv(); });
  ASSERT_TRUE(receiver);
  ASSERT_TRUE(ch.send(counted(8)));  // from root: hands it over, receiver not yet run
  EXPECT_TRUE(xcoro::cancel(receiver->frame()));
  pump_until_done(ex(), *receiver);
  ASSERT_TRUE(got.has_value()) << "a value handed over before the cancel is received";
  EXPECT_EQ(got->value(), 8);
  got.reset();
  EXPECT_EQ(ledger().live(), 0);
  EXPECT_EQ(ledger().twice, 0);
}

TEST_F(WaitCancel, ALockOrPermitHandedOverBeforeTheCancelIsHeld) {
  xcoro::mutex m;
  xcoro::semaphore sem(0);
  ASSERT_TRUE(m.try_lock());
  xcoro::result<void> locked = xcoro::errc::deadlock;
  xcoro::result<void> acquired = xcoro::errc::deadlock;
  bool unlocked = false;
  auto locker = xcoro::xasync([&] {
    locked = m.lock();
    if (locked) {
      m.unlock();
      unlocked = true;
    }
  });
  auto taker = xcoro::xasync([&] { acquired = sem.acquire(); });
  ASSERT_TRUE(locker && taker);
  m.unlock();       // hands the mutex to `locker`
  sem.release(1);   // and the permit to `taker`
  EXPECT_TRUE(xcoro::cancel(locker->frame()));
  EXPECT_TRUE(xcoro::cancel(taker->frame()));
  pump_until_done(ex(), *locker);
  pump_until_done(ex(), *taker);
  EXPECT_TRUE(locked);
  EXPECT_TRUE(unlocked);
  EXPECT_TRUE(acquired);
  EXPECT_EQ(sem.available(), 0u) << "the permit was kept, not returned";
  EXPECT_TRUE(m.try_lock()) << "the lock was released by its holder";
  m.unlock();
}

// A cancelled waiter gives up its place: the next value, lock or permit goes to the next
// waiter in line, and nothing is lost.
TEST_F(WaitCancel, WithdrawnWaitersDoNotSwallowWakeUps) {
  channel<counted> ch({.capacity = 1});
  xcoro::semaphore sem(0);
  ledger().reset();
  std::optional<counted> first, second;
  int permits = 0;
  auto a = xcoro::xasync([&] { first = ch.recv(); });
  auto sel = xcoro::xasync([&] {
    std::optional<counted> o;
    EXPECT_EQ(xcoro::select(xcoro::recv_case(ch, o)).error(), xcoro::errc::canceled);
  });
  auto b = xcoro::xasync([&] { second = ch.recv(); });
  auto p1 = xcoro::xasync([&] { permits += sem.acquire() ? 1 : 0; });
  auto p2 = xcoro::xasync([&] { permits += sem.acquire() ? 1 : 0; });
  ASSERT_TRUE(a && sel && b && p1 && p2);
  EXPECT_TRUE(xcoro::cancel(a->frame()));
  EXPECT_TRUE(xcoro::cancel(sel->frame()));
  EXPECT_TRUE(xcoro::cancel(p1->frame()));
  ASSERT_TRUE(ch.send(counted(9)));
  sem.release(1);
  pump_until_done(ex(), *a);
  pump_until_done(ex(), *sel);
  pump_until_done(ex(), *b);
  pump_until_done(ex(), *p2);
  EXPECT_FALSE(first.has_value());
  ASSERT_TRUE(second.has_value()) << "the value went to the waiter still in line";
  EXPECT_EQ(second->value(), 9);
  EXPECT_EQ(permits, 1);
  EXPECT_EQ(sem.available(), 0u);
  first.reset();
  second.reset();
  EXPECT_EQ(ledger().live(), 0);
}

TEST_F(WaitCancel, AShieldHoldsTheCancelBackUntilItEnds) {
  channel<std::string> ch({.capacity = 1});
  std::optional<std::string> inside;
  std::optional<std::string> after;
  bool requested_inside = false;
  auto f = xcoro::xasync([&] {
    {
      xcoro::cancel_shield shield;
      inside = ch.recv();
      requested_inside = xcoro::cancel_requested();
    }
    after = ch.recv();
  });
  ASSERT_TRUE(f);
  EXPECT_TRUE(xcoro::cancel(f->frame()));
  while (ex()->tick()) {
  }
  EXPECT_EQ(f->status(), status::suspended) << "the shielded recv keeps waiting";
  ASSERT_TRUE(ch.send(std::string(30, 'v')));
  pump_until_done(ex(), *f);
  ASSERT_EQ(f->status(), status::done);
  EXPECT_EQ(inside, std::string(30, 'v'));
  EXPECT_TRUE(requested_inside);
  EXPECT_FALSE(after.has_value()) << "the cancel is seen once the shield is gone";
}

TEST_F(WaitCancel, DeadlinesTimeOut) {
  channel<std::string> empty({.capacity = 2});
  channel<std::string> full({.capacity = 1});
  ASSERT_TRUE(full.try_send(*std::make_unique<std::string>(30, 'f')));
  auto r = aio::run(nullptr, [&] {
    auto t0 = clock_type::now();
    auto got = empty.recv(30ms);
    EXPECT_EQ(got.error(), std::errc::timed_out);
    EXPECT_GE(clock_type::now() - t0, 30ms);

    t0 = clock_type::now();
    EXPECT_EQ(full.send(std::string(30, 's'), 20ms).error(), std::errc::timed_out);
    EXPECT_GE(clock_type::now() - t0, 20ms);

    t0 = clock_type::now();
    std::optional<std::string> out;
    std::string v(30, 'v');
    auto sel = xcoro::select(20ms, xcoro::recv_case(empty, out), xcoro::send_case(full, v));
    EXPECT_EQ(sel.error(), std::errc::timed_out);
    EXPECT_GE(clock_type::now() - t0, 20ms);
    EXPECT_FALSE(out.has_value());
    EXPECT_EQ(v, std::string(30, 'v'));
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(full.size(), 1u);
}

TEST_F(WaitCancel, ZeroTimeoutsNeverSuspend) {
  channel<std::string> ch({.capacity = 1});
  auto f = xcoro::xasync([&] {
    xcoro::frame self = xcoro::xframe();
    std::uint64_t before = self->invocation();
    EXPECT_EQ(ch.recv(0ms).error(), std::errc::timed_out);
    EXPECT_TRUE(ch.send(std::string(30, 'a'), 0ms));
    EXPECT_EQ(ch.send(std::string(30, 'b'), -5ms).error(), std::errc::timed_out);
    std::optional<std::string> out;
    EXPECT_EQ(*xcoro::select(0ms, xcoro::recv_case(ch, out)), 0u);
    EXPECT_EQ(out, std::string(30, 'a'));
    EXPECT_EQ(self->invocation(), before) << "none of them suspended";
  });
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status(), status::done);
}

// A value, a close or a cancel that comes first ends the wait; the deadline then disarms
// and never fires later (the loop would otherwise not be idle).
TEST_F(WaitCancel, WhatComesBeforeTheDeadlineWins) {
  channel<counted> ch({.capacity = 0});
  ledger().reset();
  xcoro::result<counted> got = xcoro::errc::deadlock;
  xcoro::result<counted> closed = xcoro::errc::deadlock;
  xcoro::result<counted> cancelled = xcoro::errc::deadlock;
  auto t0 = clock_type::now();
  auto r = aio::run(nullptr, [&] {
    auto receiver = xcoro::xasync([&] { got = ch.recv(10s); });
    EXPECT_TRUE(ch.send(counted(3)));
    xcoro::xawait(*receiver);
    auto c = xcoro::xasync([&] { cancelled = ch.recv(10s); });
    xcoro::cancel(c->frame());
    xcoro::xawait(*c);
    auto waiting = xcoro::xasync([&] { closed = ch.recv(10s); });
    ch.close();
    xcoro::xawait(*waiting);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_LT(clock_type::now() - t0, 10s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->value(), 3);
  EXPECT_EQ(cancelled.error(), xcoro::errc::canceled);
  EXPECT_EQ(closed.error(), xcoro::errc::channel_closed);
  EXPECT_FALSE(ex()->tick()) << "no deadline left armed";
}

TEST_F(WaitCancel, ARecvWithADeadlineStillReceivesBufferedValuesAfterClose) {
  channel<std::string> ch({.capacity = 2});
  ASSERT_TRUE(ch.try_send(*std::make_unique<std::string>(30, 'x')));
  ch.close();
  auto r = aio::run(nullptr, [&] {
    auto v = ch.recv(1s);
    EXPECT_TRUE(v);
    EXPECT_EQ(ch.recv(1s).error(), xcoro::errc::channel_closed);
    EXPECT_EQ(ch.send(std::string("late"), 1s).error(), xcoro::errc::channel_closed);
  });
  ASSERT_TRUE(r);
}

TEST_F(WaitCancel, TrySelectNeverSuspends) {
  channel<std::string> a({.capacity = 1}), b({.capacity = 0});
  std::optional<std::string> from_a, from_b;
  // From root, where a suspending call would abort.
  EXPECT_FALSE(xcoro::try_select(xcoro::recv_case(a, from_a), xcoro::recv_case(b, from_b)));
  ASSERT_TRUE(a.try_send(*std::make_unique<std::string>(30, 'a')));
  auto i = xcoro::try_select(xcoro::recv_case(b, from_b), xcoro::recv_case(a, from_a));
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(*i, 1u);
  EXPECT_EQ(from_a, std::string(30, 'a'));
  std::string v(30, 'b');
  EXPECT_FALSE(xcoro::try_select(xcoro::send_case(b, v))) << "no receiver waits";
  EXPECT_EQ(v, std::string(30, 'b'));
}

// Many senders and receivers on each kind of channel, with every other one cancelled while
// it waits: every value sent successfully is received exactly once, and none leaks.
TEST_F(WaitCancel, CancelledSendersAndReceiversLoseNoValue) {
  for (std::size_t cap : {0u, 1u, 4u}) {
    SCOPED_TRACE(cap);
    ledger().reset();
    channel<counted> ch({.capacity = cap});
    int sent = 0;
    int received = 0;
    std::vector<xcoro::frame_t<void>> senders, receivers;
    for (int i = 0; i < 20; ++i) {
      senders.push_back(std::move(*xcoro::xasync([&, i] {
        if (ch.send(counted(i))) {
          ++sent;
        }
      })));
    }
    for (int i = 0; i < 20; i += 2) {
      xcoro::cancel(senders[static_cast<std::size_t>(i)].frame());
    }
    for (int i = 0; i < 30; ++i) {
      receivers.push_back(std::move(*xcoro::xasync([&] {
        while (std::optional<counted> v = ch.recv()) {
          ++received;
        }
      })));
    }
    for (int i = 0; i < 30; i += 3) {
      xcoro::cancel(receivers[static_cast<std::size_t>(i)].frame());
    }
    while (ex()->tick()) {
    }
    for (auto& s : senders) {
      EXPECT_EQ(s.status(), status::done);
    }
    ch.close();
    while (ex()->tick()) {
    }
    for (auto& r : receivers) {
      EXPECT_EQ(r.status(), status::done);
    }
    EXPECT_EQ(received, sent);
    EXPECT_GE(sent, 10) << "the senders that were not cancelled all sent";
    EXPECT_EQ(ch.size(), 0u);
    EXPECT_EQ(ledger().live(), 0);
    EXPECT_EQ(ledger().twice, 0);
  }
}

TEST(WaitCancelDeathTest, ADeadlineNeedsALoop) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor plain;
        channel<int> ch({.capacity = 1, .executor = &plain});
        auto f = xcoro::xasync([&] { (void)ch.recv(10ms); });
      },
      "xcoro: channel::recv: coroutine \\(id " XCORO_RE_ID
      "\\) has a deadline, but its executor has no clock");
}

}  // namespace
