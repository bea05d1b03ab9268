// Tests of channels: zigcoro's tests 9 and 10 with their exact switch counts, every fix
// (close wakes all, rendezvous, send on closed, try_*, no stale waiters), select, and a
// seeded randomized model test against a sequential reference.
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/in_root.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/channel.hpp"
#include "support/executor_fixture.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"

namespace {

using xcoro::channel;

using Channel = xcoro_test::executor_fixture;

void sender(channel<std::size_t>* ch) {
  for (std::size_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(ch->send(i));
  }
  ch->close();
}

std::size_t receiver(channel<std::size_t>* ch) {
  std::size_t sum = 0;
  while (std::optional<std::size_t> v = ch->recv()) {
    sum += *v;
  }
  return sum;
}

/// zigcoro's tests 9 and 10: a sender of 0..5 and a summing receiver on env stacks,
/// driven by ticks from root. Returns the switches into root.
std::uint64_t switches_into_root(xcoro::executor& ex, std::size_t capacity) {
  channel<std::size_t> ch({.capacity = capacity});
  std::uint64_t root_before = xcoro::xframe()->invocation();
  auto send = xcoro::xasync(sender, &ch);
  auto recv = xcoro::xasync(receiver, &ch);
  EXPECT_TRUE(send && recv);
  while (ex.tick()) {
  }
  xcoro::xawait(*send);
  EXPECT_EQ(xcoro::xawait(*recv), 15u);
  return xcoro::xframe()->invocation() - root_before;
}

// zigcoro test 9: capacity 1, 6 values: exactly 12 switches into root.
TEST_F(Channel, ZigcoroChannelSwitchCount) {
  EXPECT_EQ(switches_into_root(ex_, 1), 12u);
}

// zigcoro test 10: capacity 6: nobody blocks, 2 switches into root.
TEST_F(Channel, ZigcoroBufferedChannelSwitchCount) {
  EXPECT_EQ(switches_into_root(ex_, 6), 2u);
}

TEST_F(Channel, CloseWakesEveryReceiver) {
  channel<int> ch;
  int nullopts = 0;
  std::vector<xcoro::frame_t<void>> receivers;
  for (int i = 0; i < 3; ++i) {
    receivers.push_back(std::move(*xcoro::xasync([&] {
      if (!ch.recv()) {
        ++nullopts;
      }
    })));
  }
  ch.close();
  drain();
  EXPECT_EQ(nullopts, 3);
  for (auto& r : receivers) {
    EXPECT_EQ(r.status(), xcoro::status::done);
  }
}

TEST_F(Channel, CloseWakesEverySenderWithAnError) {
  channel<int> ch({.capacity = 1});
  ASSERT_TRUE(ch.send(0));  // full now; root may send while it does not block
  int closed_errors = 0;
  std::vector<xcoro::frame_t<void>> senders;
  for (int i = 0; i < 3; ++i) {
    senders.push_back(std::move(*xcoro::xasync([&, i] {
      if (ch.send(i).error() == xcoro::errc::channel_closed) {
        ++closed_errors;
      }
    })));
  }
  ch.close();
  drain();
  EXPECT_EQ(closed_errors, 3);
  EXPECT_EQ(ch.try_recv(), 0);  // buffered values survive close
  EXPECT_EQ(ch.try_recv(), std::nullopt);
}

TEST_F(Channel, SendOnClosedIsAnError) {
  channel<int> ch;
  ch.close();
  ch.close();  // idempotent
  EXPECT_EQ(ch.send(1).error(), xcoro::errc::channel_closed);
  int v = 2;
  EXPECT_FALSE(ch.try_send(v));
  EXPECT_EQ(v, 2);
  EXPECT_EQ(ch.recv(), std::nullopt);  // closed and drained: no suspend, even in root
}

TEST_F(Channel, TryOperationsNeverSuspend) {
  channel<std::string> ch({.capacity = 2});
  EXPECT_EQ(ch.try_recv(), std::nullopt);
  std::string a = "a", b = "b", c = "c";
  EXPECT_TRUE(ch.try_send(a));
  EXPECT_TRUE(ch.try_send(b));
  EXPECT_FALSE(ch.try_send(c));
  EXPECT_EQ(c, "c");  // left in place
  EXPECT_EQ(ch.try_recv(), "a");
  EXPECT_EQ(ch.try_recv(), "b");
  EXPECT_EQ(ch.try_recv(), std::nullopt);
}

TEST_F(Channel, RendezvousHandsOverDirectly) {
  channel<int> ch({.capacity = 0});
  std::vector<std::string> log;
  auto send = xcoro::xasync([&] {
    log.push_back("send 1");
    ASSERT_TRUE(ch.send(1));
    log.push_back("sent 1");
    ASSERT_TRUE(ch.send(2));
    log.push_back("sent 2");
  });
  ASSERT_TRUE(send);
  EXPECT_EQ(send->status(), xcoro::status::suspended);  // no receiver yet
  int v = 5;
  EXPECT_FALSE(ch.try_send(v));  // nobody waits to receive
  auto recv = xcoro::xasync([&] {
    log.push_back("recv " + std::to_string(*ch.recv()));
    log.push_back("recv " + std::to_string(*ch.recv()));
  });
  ASSERT_TRUE(recv);
  drain();
  EXPECT_EQ(send->status(), xcoro::status::done);
  EXPECT_EQ(recv->status(), xcoro::status::done);
  EXPECT_EQ(log.front(), "send 1");
  EXPECT_EQ(std::count(log.begin(), log.end(), std::string("recv 1")), 1);
  EXPECT_EQ(std::count(log.begin(), log.end(), std::string("recv 2")), 1);
  EXPECT_EQ(ch.size(), 0u);
}

TEST_F(Channel, RendezvousTryRecvTakesFromWaitingSender) {
  channel<int> ch({.capacity = 0});
  bool sent = false;
  auto send = xcoro::xasync([&] { sent = ch.send(9).has_value(); });
  ASSERT_TRUE(send);
  EXPECT_EQ(ch.try_recv(), 9);
  drain();
  EXPECT_TRUE(sent);
}

TEST_F(Channel, RendezvousCloseReleasesSender) {
  channel<int> ch({.capacity = 0});
  std::error_code ec;
  auto send = xcoro::xasync([&] { ec = ch.send(1).error(); });
  ASSERT_TRUE(send);
  ch.close();
  drain();
  EXPECT_EQ(ec, xcoro::errc::channel_closed);
}

// A receiver woken by its own child's completion keeps waiting and leaves no stale record
// (a case zigcoro gets wrong): later sends still reach it, exactly once.
TEST_F(Channel, SpuriousWakeupLeavesNoStaleWaiter) {
  channel<int> ch;
  xcoro::frame_t<void> child;
  std::vector<int> got;
  auto recv = xcoro::xasync([&] {
    auto c = xcoro::xasync([] { xcoro::xsuspend(); });
    child = std::move(*c);
    got.push_back(*ch.recv());
    got.push_back(*ch.recv());
  });
  ASSERT_TRUE(recv);
  xcoro::xresume(child);  // finishes into `recv` while it waits on the channel
  EXPECT_EQ(recv->status(), xcoro::status::suspended);
  auto send = xcoro::xasync([&] {
    ASSERT_TRUE(ch.send(1));
    ASSERT_TRUE(ch.send(2));
  });
  ASSERT_TRUE(send);
  drain();
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

// Destroying a coroutine that waits on a channel (forced unwind) unlinks its waiter.
TEST_F(Channel, UnwoundWaiterLeavesTheQueue) {
  channel<int> ch;
  {
    auto recv = xcoro::xasync([&] { ch.recv(); });
    ASSERT_TRUE(recv);
  }
  int got = 0;
  auto recv2 = xcoro::xasync([&] { got = *ch.recv(); });
  ASSERT_TRUE(recv2);
  ASSERT_TRUE(ch.send(4));
  drain();
  EXPECT_EQ(got, 4);
}

// A waiter signalled, then unwound before the executor resumes it: its wake-up is
// cancelled, so the executor never resumes a dead coroutine.
TEST_F(Channel, SignalledThenUnwoundWaiter) {
  channel<int> ch;
  {
    auto recv = xcoro::xasync([&] { ch.recv(); });
    ASSERT_TRUE(recv);
    ASSERT_TRUE(ch.send(1));  // signals `recv`: its wake-up is queued
    EXPECT_FALSE(ex_.empty());
  }
  EXPECT_TRUE(ex_.empty());
  EXPECT_EQ(ch.try_recv(), 1);
}

// A rendezvous receiver handed a value and then unwound before it ran: the sender counted
// the value as delivered, so it must reach the next receiver (found by the fuzzer).
TEST_F(Channel, RendezvousValueSurvivesUnwoundReceiver) {
  channel<int> ch({.capacity = 0});
  {
    auto doomed = xcoro::xasync([&] { ch.recv(); });
    ASSERT_TRUE(doomed);
    int v = 7;
    EXPECT_TRUE(ch.try_send(v));  // handed straight to `doomed`
  }                               // destroyed before it could take it
  EXPECT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch.try_recv(), 7);
  EXPECT_EQ(ch.try_recv(), std::nullopt);
}

TEST_F(Channel, RendezvousValueFromUnwoundSelectGoesToWaitingReceiver) {
  channel<int> ch({.capacity = 0}), other({.capacity = 0});
  int got = 0;
  {
    std::optional<int> a, b;
    auto doomed = xcoro::xasync([&] {
      (void)xcoro::select(xcoro::recv_case(other, a), xcoro::recv_case(ch, b));  // unwound
    });
    auto waiting = xcoro::xasync([&] { got = ch.recv().value_or(-1); });
    ASSERT_TRUE(doomed && waiting);
    int v = 8;
    EXPECT_TRUE(ch.try_send(v));  // `doomed`'s select is first in the queue
    doomed->frame()->set_name("doomed");
    *doomed = xcoro::frame_t<void>();  // its value goes to `waiting`
    drain();
    EXPECT_EQ(waiting->status(), xcoro::status::done);
  }
  EXPECT_EQ(got, 8);
}

TEST_F(Channel, MoveOnlyValues) {
  channel<std::unique_ptr<int>> ch({.capacity = 2});
  ASSERT_TRUE(ch.send(std::make_unique<int>(3)));
  std::optional<std::unique_ptr<int>> v = ch.try_recv();
  ASSERT_TRUE(v && *v);
  EXPECT_EQ(**v, 3);
}

TEST_F(Channel, SelectPicksTheReadyCase) {
  channel<int> a, b;
  std::optional<int> from_a, from_b;
  ASSERT_TRUE(b.send(5));
  EXPECT_EQ(xcoro::select(xcoro::recv_case(a, from_a), xcoro::recv_case(b, from_b)), 1u);
  EXPECT_EQ(from_b, 5);
  int out = 6;
  EXPECT_EQ(xcoro::select(xcoro::recv_case(a, from_a), xcoro::send_case(b, out)), 1u);
  EXPECT_EQ(b.try_recv(), 6);
}

TEST_F(Channel, SelectWaitsThenFires) {
  channel<int> a({.capacity = 0}), b;
  std::size_t fired = 99;
  std::optional<int> from_a, from_b;
  auto sel = xcoro::xasync([&] {
    fired = xcoro::select(xcoro::recv_case(a, from_a), xcoro::recv_case(b, from_b)).value();
  });
  ASSERT_TRUE(sel);
  EXPECT_EQ(sel->status(), xcoro::status::suspended);
  auto send = xcoro::xasync([&] { ASSERT_TRUE(a.send(11)); });
  ASSERT_TRUE(send);
  drain();
  EXPECT_EQ(fired, 0u);
  EXPECT_EQ(from_a, 11);
  EXPECT_EQ(send->status(), xcoro::status::done);
  // The entry on `b` is gone: a value sent there stays for the next receiver.
  ASSERT_TRUE(b.send(1));
  EXPECT_EQ(b.try_recv(), 1);
}

TEST_F(Channel, SelectOnClosedChannelFires) {
  channel<int> a, b;
  std::optional<int> got_a, got_b;
  auto sel = xcoro::xasync([&] {
    return xcoro::select(xcoro::recv_case(a, got_a), xcoro::recv_case(b, got_b));
  });
  ASSERT_TRUE(sel);
  b.close();
  drain();
  EXPECT_EQ(xcoro::xawait(*sel), 1u);
  EXPECT_EQ(got_b, std::nullopt);
}

// Two receivers on one channel, one of them in a select that fires on another channel
// first: the value it was signalled for must still reach the other receiver.
TEST_F(Channel, SelectPassesOnASignalItDidNotUse) {
  channel<int> shared({.capacity = 1}), other({.capacity = 1});
  std::optional<int> from_shared, from_other;
  std::size_t fired = 99;
  auto sel = xcoro::xasync([&] {
    fired = xcoro::select(xcoro::recv_case(other, from_other), xcoro::recv_case(shared, from_shared)).value();
  });
  int plain = 0;
  auto recv = xcoro::xasync([&] { plain = *shared.recv(); });
  ASSERT_TRUE(sel && recv);
  ASSERT_TRUE(shared.send(1));  // signals `sel` (first in the queue)
  ASSERT_TRUE(other.send(2));   // `sel` will find `other` ready first
  drain();
  EXPECT_EQ(fired, 0u);
  EXPECT_EQ(from_other, 2);
  EXPECT_EQ(plain, 1);
  EXPECT_EQ(recv->status(), xcoro::status::done);
}

TEST(ChannelDeathTest, BlockingInRoot) {
  XCORO_TEST_REQUIRES_ROOT();
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        channel<int> ch({.capacity = 1, .executor = &ex});
        ch.recv();
      },
      "xcoro: channel::recv: root coroutine \\(id 0\\) would block in root");
}

TEST(ChannelDeathTest, NoExecutor) {
  // Inside a runtime, the worker's env has an executor.
  XCORO_TEST_REQUIRES_ROOT();
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        channel<int> ch;
        auto f = xcoro::xasync([&] { ch.recv(); });
      },
      "xcoro: channel::recv: coroutine \\(id " XCORO_RE_ID "\\) has no executor");
}

TEST(ChannelDeathTest, DestroyedWithWaiters) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        auto ch = std::make_unique<channel<int>>(xcoro::channel_options{.executor = &ex});
        auto f = xcoro::xasync([&] { ch->recv(); });
        ch.reset();
      },
      "xcoro: ~channel: destroyed while coroutines still wait on it");
}

// ---------------------------------------------------------------------------------------
// Randomized model test. Eight coroutines do random send / recv / try_send / try_recv /
// close on channels of capacity 0, 1 and 4, under 60 seeds. Every value is unique. The
// sequential reference keeps, per buffered channel, the FIFO of values sent successfully
// (a successful send returns right after its value entered the buffer, with no suspension
// in between). Checked: each value received from a buffered channel is the reference's
// front; nothing is received twice or without having been sent; every value sent
// successfully is received or still buffered; and when the executor runs dry, no blocked coroutine could proceed
// (a receiver blocked where a value waits, a sender blocked where there is room, a
// rendezvous receiver and sender blocked on the same channel, anyone blocked on a closed
// channel). On a rendezvous channel the moment of hand-over is not observable from the
// actors (a receiver handed a value runs later, through the executor), so order is not
// checked there.

/// What the model's channels carry: a value number in a string that owns heap memory (past
/// the small-string buffer), so a value destroyed twice or lost shows up under ASan/LSan.
using payload = std::string;

payload wrap(std::uint64_t v) {
  return std::to_string(v) + std::string(40, '.');
}

std::uint64_t unwrap(const payload& p) {
  return std::stoull(p.substr(0, p.find('.')));
}

struct model_channel {
  std::unique_ptr<channel<payload>> ch;
  std::size_t capacity;
  std::deque<std::uint64_t> reference;  // buffered channels only
};

enum class pending_op { none, send, recv };

struct model_run {
  explicit model_run(std::uint32_t seed) : rng(seed) {}
  std::mt19937 rng;
  std::vector<model_channel> channels;
  std::set<std::uint64_t> sent_ok;
  std::set<std::uint64_t> received;
  std::map<std::uint64_t, std::pair<pending_op, std::size_t>> blocked;     // actor -> op
  std::map<std::uint64_t, std::uint64_t> sending;  // actor -> value its send is offering
  std::set<std::uint64_t> maybe_sent;  // offered by a sender destroyed while it waited
  std::vector<xcoro::frame_t<void>>* actors = nullptr;  // index id - 1
  std::size_t destroyed_waiting = 0;  // actors destroyed by another while suspended
  std::vector<std::string> errors;
};

std::uint64_t encode(std::uint64_t sender, std::uint64_t seq) {
  return sender << 32 | seq;
}

void model_received(model_run* m, std::size_t c, std::uint64_t v) {
  if (!m->received.insert(v).second) {
    m->errors.push_back("received twice: " + std::to_string(v));
  }
  model_channel& mc = m->channels[c];
  if (mc.capacity > 0) {
    if (mc.reference.empty() || mc.reference.front() != v) {
      m->errors.push_back("out of FIFO order on channel " + std::to_string(c));
    } else {
      mc.reference.pop_front();
    }
  }
}

void model_sent(model_run* m, std::size_t c, std::uint64_t v) {
  m->sent_ok.insert(v);
  if (m->channels[c].capacity > 0) {
    m->channels[c].reference.push_back(v);
  }
}

void model_actor(model_run* m, std::uint64_t id, int steps) {
  std::uint64_t seq = 0;
  for (int s = 0; s < steps; ++s) {
    std::size_t c = m->rng() % m->channels.size();
    channel<payload>& ch = *m->channels[c].ch;
    switch (m->rng() % 11) {
      case 0:
      case 1:
      case 2: {
        std::uint64_t v = encode(id, ++seq);
        m->blocked[id] = {pending_op::send, c};
        m->sending[id] = v;
        bool ok = ch.send(wrap(v)).has_value();
        m->blocked.erase(id);
        m->sending.erase(id);
        if (ok) {
          model_sent(m, c, v);
        }
        break;
      }
      case 3:
      case 4:
      case 5: {
        m->blocked[id] = {pending_op::recv, c};
        std::optional<payload> v = ch.recv();
        m->blocked.erase(id);
        if (v) {
          model_received(m, c, unwrap(*v));
        }
        break;
      }
      case 6:
      case 7: {
        std::uint64_t v = encode(id, ++seq);
        payload p = wrap(v);
        if (ch.try_send(p)) {
          model_sent(m, c, v);
        } else if (p != wrap(v)) {
          m->errors.push_back("a failed try_send did not leave the value in place");
        }
        break;
      }
      case 8:
        if (std::optional<payload> v = ch.try_recv()) {
          model_received(m, c, unwrap(*v));
        }
        break;
      case 9:
        if (m->rng() % 8 == 0) {
          ch.close();
        }
        break;
      case 10: {
        // Destroy another actor from here: a third coroutine, neither the root that
        // started it nor the actor itself. It unwinds wherever it waits; a rendezvous
        // value it was offering may or may not have been taken already.
        std::uint64_t victim = 1 + m->rng() % 8;
        if (m->rng() % 4 != 0 || victim == id || victim > m->actors->size()) {
          break;
        }
        xcoro::frame_t<void>& f = (*m->actors)[victim - 1];
        if (auto it = m->sending.find(victim); it != m->sending.end()) {
          m->maybe_sent.insert(it->second);
          m->sending.erase(it);
        }
        m->blocked.erase(victim);
        if (f.status() == xcoro::status::suspended) {
          ++m->destroyed_waiting;
        }
        f = {};
        if (f.status() != xcoro::status::done) {
          m->errors.push_back("a destroyed actor's frame_t is not empty");
        }
        break;
      }
    }
  }
}

/// Called when the executor ran dry: every blocked actor must be unable to proceed.
void check_quiescent(model_run& m, std::uint32_t seed) {
  for (auto& [actor, op] : m.blocked) {
    model_channel& mc = m.channels[op.second];
    bool could = mc.ch->closed();
    if (op.first == pending_op::recv) {
      could = could || mc.ch->size() > 0;
      if (mc.capacity == 0) {
        for (auto& [other, other_op] : m.blocked) {
          could = could || (other_op.first == pending_op::send && other_op.second == op.second);
        }
      }
    } else {
      could = could || (mc.capacity > 0 && mc.ch->size() < mc.capacity);
    }
    if (could) {
      m.errors.push_back("seed " + std::to_string(seed) + ": actor " + std::to_string(actor) +
                         " blocked on channel " + std::to_string(op.second) +
                         " although it could proceed");
    }
  }
}

TEST_F(Channel, RandomizedAgainstModel) {
  std::size_t destroyed_waiting = 0;
  for (std::uint32_t seed = 1; seed <= 60; ++seed) {
    model_run m(seed);
    for (std::size_t capacity : {std::size_t{0}, std::size_t{1}, std::size_t{4}}) {
      m.channels.push_back({std::make_unique<channel<payload>>(
                                xcoro::channel_options{.capacity = capacity}),
                            capacity,
                            {}});
    }
    std::vector<xcoro::frame_t<void>> actors;
    actors.reserve(8);
    m.actors = &actors;
    for (std::uint64_t id = 1; id <= 8; ++id) {
      auto f = xcoro::xasync(model_actor, &m, id, 40);
      ASSERT_TRUE(f);
      actors.push_back(std::move(*f));
    }
    drain();
    check_quiescent(m, seed);
    // Close everything: every blocked actor must now finish.
    for (model_channel& mc : m.channels) {
      mc.ch->close();
    }
    drain();
    for (auto& a : actors) {
      ASSERT_EQ(a.status(), xcoro::status::done) << "seed " << seed;
    }
    for (std::size_t c = 0; c < m.channels.size(); ++c) {
      while (std::optional<payload> v = m.channels[c].ch->try_recv()) {
        model_received(&m, c, unwrap(*v));
      }
    }
    EXPECT_TRUE(m.blocked.empty()) << "seed " << seed;
    // Every successful send was received once; anything else received was offered by a
    // sender destroyed after a receiver took its value.
    std::set<std::uint64_t> unexplained;
    for (std::uint64_t v : m.received) {
      if (m.sent_ok.count(v) == 0 && m.maybe_sent.count(v) == 0) {
        unexplained.insert(v);
      }
    }
    EXPECT_TRUE(unexplained.empty()) << "seed " << seed << ": phantom values";
    for (std::uint64_t v : m.sent_ok) {
      EXPECT_EQ(m.received.count(v), 1u) << "seed " << seed << ": lost value " << v;
    }
    for (const std::string& e : m.errors) {
      ADD_FAILURE() << "seed " << seed << ": " << e;
    }
    destroyed_waiting += m.destroyed_waiting;
  }
  EXPECT_GT(destroyed_waiting, 10u) << "the seeds no longer destroy waiting actors";
}

}  // namespace
