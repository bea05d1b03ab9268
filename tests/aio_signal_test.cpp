// aio::signal_set, once per backend: signals sent from another thread and from a coroutine,
// a wait's timeout and its cancellation from a third coroutine, a storm of 10,000 signals,
// two sets for one signal, the actions of signals nobody asks for and of those whose last
// set goes, sets waiting on two workers of a runtime, and SIGCHLD from a child that exits.
//
// SIGUSR1 and SIGUSR2 are ignored while each test runs, so that a signal still on its way
// when a test ends its set cannot end the test process.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/runtime.hpp"
#include "xcoro/scope.hpp"
#include "xcoro/signal.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

void set_handler(int sig, void (*h)(int)) {
  struct sigaction sa {};
  sa.sa_handler = h;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(::sigaction(sig, &sa, nullptr), 0);
}

void (*handler_of(int sig))(int) {
  struct sigaction sa {};
  EXPECT_EQ(::sigaction(sig, nullptr, &sa), 0);
  return sa.sa_handler;
}

class AioSignal : public xcoro_test::aio_fixture {
 protected:
  void SetUp() override {
    aio_fixture::SetUp();
    set_handler(SIGUSR1, SIG_IGN);
    set_handler(SIGUSR2, SIG_IGN);
  }
};

TEST_F(AioSignal, SignalFromAnotherThread) {
  auto r = aio::run(nullptr, [] {
    auto set = aio::signal_set::create(nullptr, {SIGUSR1, SIGUSR2});
    EXPECT_TRUE(set) << set.error().message();
    std::thread sender([] { ::kill(::getpid(), SIGUSR2); });
    auto s = set->wait(10000ms);
    sender.join();
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(*s, SIGUSR2);
    EXPECT_EQ(set->count(SIGUSR2), 1u);
    EXPECT_EQ(set->count(SIGUSR1), 0u);
    EXPECT_EQ(set->count(SIGTERM), 0u) << "not in the set";
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(AioSignal, SignalFromACoroutineAndFromRoot) {
  auto set = aio::signal_set::create(nullptr, {SIGUSR1});
  ASSERT_TRUE(set) << set.error().message();
  auto r = aio::run(nullptr, [&] {
    auto raiser = xcoro::xasync([] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      EXPECT_EQ(::raise(SIGUSR1), 0);
    });
    auto s = set->wait(10000ms);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(*s, SIGUSR1);
    xcoro::xawait(*raiser);
  });
  ASSERT_TRUE(r) << r.error().message();
  // From root: the wait pumps the loop; a signal that came before the wait is not lost.
  ASSERT_EQ(::raise(SIGUSR1), 0);
  auto s = set->wait(10000ms);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(*s, SIGUSR1);
  EXPECT_EQ(set->count(SIGUSR1), 2u);
}

TEST_F(AioSignal, PendingSignalsAreReturnedInTurn) {
  auto set = aio::signal_set::create(nullptr, {SIGUSR1, SIGUSR2, SIGUSR1});
  ASSERT_TRUE(set) << set.error().message();
  ASSERT_EQ(::raise(SIGUSR2), 0);
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_EQ(::raise(SIGUSR1), 0);  // coalesces with the first
  auto a = set->wait(1000ms);
  auto b = set->wait(1000ms);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(*a == SIGUSR1 || *a == SIGUSR2);
  EXPECT_TRUE(*b == SIGUSR1 || *b == SIGUSR2);
  EXPECT_EQ(set->count(SIGUSR1), 2u);
  EXPECT_EQ(set->wait(20ms).error(), std::errc::timed_out) << "both taken";
}

TEST_F(AioSignal, WaitTimesOut) {
  auto r = aio::run(nullptr, [] {
    auto set = aio::signal_set::create(nullptr, {SIGUSR1});
    EXPECT_TRUE(set);
    auto t0 = clock_type::now();
    auto s = set->wait(50ms);
    EXPECT_GE(clock_type::now() - t0, 50ms);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error(), std::errc::timed_out);
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(AioSignal, CancelledFromAThirdCoroutine) {
  auto r = aio::run(nullptr, [] {
    auto set = aio::signal_set::create(nullptr, {SIGUSR1});
    EXPECT_TRUE(set);
    auto waiter = xcoro::xasync([&] { return set->wait(); });
    auto third = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      EXPECT_TRUE(xcoro::cancel(waiter->frame()));
    });
    auto s = xcoro::xawait(*waiter);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error(), xcoro::errc::canceled);
    xcoro::xawait(*third);
    // The set still works.
    EXPECT_EQ(::raise(SIGUSR1), 0);
    EXPECT_EQ(set->wait(1000ms), SIGUSR1);
  });
  ASSERT_TRUE(r) << r.error().message();
}

// 10,000 kill(2)s from another thread while a coroutine waits in a loop: the loop ends
// (once the sender is done and the signals stop), having seen at least one.
TEST_F(AioSignal, StormFromAnotherThread) {
  constexpr int sent = 10000;
  auto r = aio::run(nullptr, [] {
    auto set = aio::signal_set::create(nullptr, {SIGUSR1});
    EXPECT_TRUE(set);
    std::atomic<bool> done{false};
    std::thread sender([&] {
      for (int i = 0; i < sent; ++i) {
        ::kill(::getpid(), SIGUSR1);
      }
      done.store(true);
    });
    std::uint64_t seen = 0;
    for (;;) {
      auto s = set->wait(200ms);
      if (s) {
        EXPECT_EQ(*s, SIGUSR1);
        ++seen;
      } else {
        EXPECT_EQ(s.error(), std::errc::timed_out);
        if (done.load()) {
          break;
        }
      }
    }
    sender.join();
    EXPECT_GE(seen, 1u);
    EXPECT_GE(set->count(SIGUSR1), seen) << "a wait takes at least one arrival";
    EXPECT_LE(set->count(SIGUSR1), static_cast<std::uint64_t>(sent));
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(AioSignal, TwoSetsForOneSignalAreBothWoken) {
  auto r = aio::run(nullptr, [] {
    auto a = aio::signal_set::create(nullptr, {SIGUSR1});
    auto b = aio::signal_set::create(nullptr, {SIGUSR2, SIGUSR1});
    EXPECT_TRUE(a && b);
    auto wa = xcoro::xasync([&] { return a->wait(10000ms); });
    auto wb = xcoro::xasync([&] { return b->wait(10000ms); });
    // Sent to the sender thread itself, so that its handler runs there and not on the loop's
    // thread. ThreadSanitizer defers a handler to the receiving thread's next intercepted
    // call, and the io_uring loop's thread waits in a raw io_uring_enter, which TSan does
    // not intercept: a signal it received could wait there until both waits timed out.
    // Signals taken by the loop's own thread are covered by SignalFromACoroutineAndFromRoot.
    std::thread sender([] { ::pthread_kill(::pthread_self(), SIGUSR1); });
    EXPECT_EQ(xcoro::xawait(*wa), SIGUSR1);
    EXPECT_EQ(xcoro::xawait(*wb), SIGUSR1);
    sender.join();
    EXPECT_EQ(a->count(SIGUSR1), 1u);
    EXPECT_EQ(b->count(SIGUSR1), 1u);
  });
  ASSERT_TRUE(r) << r.error().message();
}

void marker_handler(int) {}

// A signal nobody asks for keeps its default; a signal's previous action comes back when
// its last set goes, not before; a moved set keeps counting.
TEST_F(AioSignal, ActionsOfOtherSignalsAndAfterTheLastSet) {
  set_handler(SIGUSR2, &marker_handler);
  EXPECT_EQ(handler_of(SIGPWR), SIG_DFL);
  {
    auto a = aio::signal_set::create(nullptr, {SIGUSR2});
    ASSERT_TRUE(a);
    EXPECT_NE(handler_of(SIGUSR2), &marker_handler);
    EXPECT_EQ(handler_of(SIGPWR), SIG_DFL) << "not asked for";
    {
      auto b = aio::signal_set::create(nullptr, {SIGUSR2, SIGPWR});
      ASSERT_TRUE(b);
      EXPECT_NE(handler_of(SIGPWR), SIG_DFL);
    }
    EXPECT_EQ(handler_of(SIGPWR), SIG_DFL) << "its only set is gone";
    EXPECT_NE(handler_of(SIGUSR2), &marker_handler) << "a still asks for it";
    aio::signal_set moved = std::move(*a);
    ASSERT_EQ(::raise(SIGUSR2), 0);
    EXPECT_EQ(moved.wait(1000ms), SIGUSR2);
    EXPECT_EQ(a->wait(1ms).error(), std::errc::bad_file_descriptor);
  }
  EXPECT_EQ(handler_of(SIGUSR2), &marker_handler) << "the previous action is back";
  set_handler(SIGUSR2, SIG_IGN);
}

TEST_F(AioSignal, RefusesWhatCannotBeCaught) {
  for (int bad : {SIGKILL, SIGSTOP, 0, -1, NSIG}) {
    auto s = aio::signal_set::create(nullptr, {SIGUSR1, bad});
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error(), std::errc::invalid_argument);
  }
  auto none = aio::signal_set::create(nullptr, {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), std::errc::invalid_argument);
  EXPECT_EQ(handler_of(SIGUSR1), SIG_IGN) << "a refused set leaves nothing installed";
}

TEST_F(AioSignal, ChildExitRaisesSigchld) {
  auto r = aio::run(nullptr, [] {
    auto set = aio::signal_set::create(nullptr, {SIGCHLD});
    EXPECT_TRUE(set);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::_exit(3);
    }
    ASSERT_GT(pid, 0);
    EXPECT_EQ(set->wait(10000ms), SIGCHLD);
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3);
  });
  ASSERT_TRUE(r) << r.error().message();
}

// Sets made and waited on by coroutines of a runtime with 2 workers (block_on spreads the
// calls over them): one kill(2) wakes both, each through its own worker's loop.
TEST_F(AioSignal, SetsOnTwoWorkersOfARuntime) {
  xcoro::runtime_options o;
  o.threads = 2;
  auto rt = xcoro::runtime::create(o);
  ASSERT_TRUE(rt) << rt.error().message();
  std::atomic<int> ready{0};
  std::atomic<int> woken{0};
  auto waiter = [&] {
    auto r = rt->block_on([&]() -> xcoro::result<int> {
      auto set = aio::signal_set::create(nullptr, {SIGUSR1});
      if (!set) {
        return set.error();
      }
      ready.fetch_add(1);
      auto s = set->wait(20000ms);
      woken.fetch_add(1);
      return s;
    });
    EXPECT_TRUE(r) << r.error().message();
    if (r) {
      EXPECT_EQ(*r, SIGUSR1);
    }
  };
  std::thread t1(waiter);
  std::thread t2(waiter);
  while (ready.load() < 2) {
    std::this_thread::sleep_for(1ms);
  }
  ::kill(::getpid(), SIGUSR1);
  t1.join();
  t2.join();
  EXPECT_EQ(woken.load(), 2);
}

}  // namespace
