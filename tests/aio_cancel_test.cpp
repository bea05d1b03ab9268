// Whole-coroutine cancellation of aio calls, once per backend: a coroutine cancelled while
// suspended in a sleep, a socket read, an accept or a pipe read, or before it reaches one;
// cancelled from root, from a sibling and from a third coroutine; three levels down; held
// back by a shield; and aio::cancel (one op) beside it.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "support/stream_pair.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/scope.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using AioCancel = xcoro_test::aio_fixture;

using xcoro_test::stream_pair;

TEST_F(AioCancel, SleepCancelledFromRoot) {
  auto t0 = clock_type::now();
  auto f = xcoro::xasync([] { return aio::sleep(nullptr, 10s); });
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status(), xcoro::status::suspended);
  EXPECT_TRUE(xcoro::cancel(f->frame()));
  EXPECT_EQ(f->status(), xcoro::status::suspended) << "resumed by the loop, not by cancel";
  while (f->status() != xcoro::status::done && ex()->tick()) {
  }
  auto r = xcoro::xawait(*f);
  EXPECT_EQ(r.error(), xcoro::errc::canceled);
  EXPECT_LT(clock_type::now() - t0, 10s);
}

// Cancelled from a sibling (started by the same coroutine) and from a third coroutine
// started elsewhere; each canceller keeps running after cancel() returns.
TEST_F(AioCancel, ReadCancelledFromASiblingAndAThirdCoroutine) {
  int canceller_steps = 0;
  auto r = aio::run(nullptr, [&] {
    stream_pair a;
    stream_pair b;
    auto reader_a = xcoro::xasync([&] {
      std::array<std::byte, 16> buf{};
      return a.end->read(buf);
    });
    auto sibling = xcoro::xasync([&] {
      EXPECT_TRUE(xcoro::cancel(reader_a->frame()));
      ++canceller_steps;
    });
    std::optional<xcoro::frame_t<xcoro::result<std::size_t>>> reader_b;
    auto starter = xcoro::xasync([&] {
      reader_b.emplace(std::move(*xcoro::xasync([&] {
        std::array<std::byte, 16> buf{};
        return b.end->read(buf);
      })));
    });
    auto third = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      EXPECT_TRUE(xcoro::cancel(reader_b->frame()));
      ++canceller_steps;
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));  // still a live coroutine afterwards
      ++canceller_steps;
    });
    EXPECT_EQ(xcoro::xawait(*reader_a).error(), xcoro::errc::canceled);
    xcoro::xawait(*third);
    xcoro::xawait(*starter);
    EXPECT_EQ(xcoro::xawait(*reader_b).error(), xcoro::errc::canceled);
    xcoro::xawait(*sibling);
    // The sockets still work.
    EXPECT_EQ(::write(a.peer, "ok", 2), 2);
    std::array<std::byte, 16> buf{};
    EXPECT_EQ(a.end->read(buf, 1000ms), 2u);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(canceller_steps, 3);
}

// Cancelled before it reaches the call: every aio call returns errc::canceled at once,
// submitting nothing, until the coroutine finishes.
TEST_F(AioCancel, CancelledBeforeReachingTheCall) {
  auto r = aio::run(nullptr, [&] {
    stream_pair p;
    auto any = aio::endpoint::parse("127.0.0.1:0");
    auto listener = aio::tcp::open(nullptr, *any);
    EXPECT_TRUE(listener->bind(*any));
    EXPECT_TRUE(listener->listen(8));
    auto f = xcoro::xasync([&] {
      xcoro::xsuspend();
      std::array<std::byte, 16> buf{};
      EXPECT_EQ(aio::sleep(nullptr, 10s).error(), xcoro::errc::canceled);
      EXPECT_EQ(p.end->read(buf).error(), xcoro::errc::canceled);
      EXPECT_EQ(p.end->read(buf, 10s).error(), xcoro::errc::canceled);
      EXPECT_EQ(listener->accept().error(), xcoro::errc::canceled);
      EXPECT_EQ(p.end->write_all(std::as_bytes(std::span("x", 1))).error(),
                xcoro::errc::canceled);
    });
    EXPECT_TRUE(xcoro::cancel(f->frame()));
    xcoro::xresume(*f);
    EXPECT_EQ(f->status(), xcoro::status::done) << "nothing suspended";
  });
  ASSERT_TRUE(r) << r.error().message();
}

// Three levels down: a cancel of the top reaches a sleep in the grandchild and a pipe read
// in the child; the grandchild's own children are born cancelled.
TEST_F(AioCancel, FlowsDownThreeLevels) {
  int canceled = 0;
  auto r = aio::run(nullptr, [&] {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    aio::file in(nullptr, fds[0]);
    auto top = xcoro::xasync([&] {
      auto child = xcoro::xasync([&] {
        auto grandchild = xcoro::xasync([&] {
          if (aio::sleep(nullptr, 10s).error() == xcoro::errc::canceled) {
            ++canceled;
          }
          auto late = xcoro::xasync([&] {
            if (aio::sleep(nullptr, 10s).error() == xcoro::errc::canceled) {
              ++canceled;
            }
          });
        });
        std::array<std::byte, 8> buf{};
        if (in.read(buf).error() == xcoro::errc::canceled) {
          ++canceled;
        }
        xcoro::xawait(*grandchild);
      });
      xcoro::xawait(*child);  // not interrupted: returns once the child finishes
      return xcoro::cancel_requested();
    });
    auto canceller = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      EXPECT_TRUE(xcoro::cancel(top->frame()));
    });
    EXPECT_TRUE(xcoro::xawait(*top));
    xcoro::xawait(*canceller);
    ::close(fds[1]);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(canceled, 3);
}

// A shield holds the cancel back: the shielded sleep runs to its end; the first sleep after
// the shield returns canceled. aio::cancel of one op still works inside a shield.
TEST_F(AioCancel, ShieldHoldsTheCancelBack) {
  auto r = aio::run(nullptr, [&] {
    auto f = xcoro::xasync([&] {
      {
        xcoro::cancel_shield shield;
        auto t0 = clock_type::now();
        EXPECT_TRUE(aio::sleep(nullptr, 30ms));
        EXPECT_GE(clock_type::now() - t0, 30ms);
        EXPECT_TRUE(xcoro::cancel_requested());
        EXPECT_EQ(aio::sleep(nullptr, 10s).error(), xcoro::errc::canceled) << "aio::cancel";
      }
      EXPECT_EQ(aio::sleep(nullptr, 10s).error(), xcoro::errc::canceled);
    });
    auto canceller = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 5ms));
      EXPECT_TRUE(xcoro::cancel(f->frame()));
      EXPECT_TRUE(aio::sleep(nullptr, 40ms));
      EXPECT_TRUE(aio::cancel(f->frame()));  // the second, shielded sleep: this op alone
    });
    xcoro::xawait(*canceller);
    xcoro::xawait(*f);
  });
  ASSERT_TRUE(r) << r.error().message();
}

}  // namespace
