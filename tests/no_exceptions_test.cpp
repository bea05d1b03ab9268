// Compiled with -fno-exceptions: what a consumer built without exceptions gets from the
// same library. Errors that would throw abort with a line naming the coroutine; a destroyed
// frame that waits in a blocking call is cancelled and resumed until it returns, and one
// suspended in a plain xsuspend frees its stack without unwinding it.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "support/test_stacks.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/result.hpp"
#include "xcoro/scope.hpp"
#include "xcoro/sync.hpp"
#if defined(__linux__)
#include <sys/socket.h>
#include <unistd.h>

#include <span>

#include "xcoro/aio.hpp"
#endif

static_assert(!xcoro::detail::unwind_on_destroy, "this file must be built with -fno-exceptions");

namespace {

TEST(NoExceptionsDeathTest, ValueOnErrorAbortsNamingTheCoroutine) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] {
          xcoro::xframe()->set_name("careless");
          xcoro::result<int> r = xcoro::errc::eof;
          (void)r.value();
        });
      },
      "xcoro: xcoro::result::value\\(\\) on an error, in coroutine 'careless' \\(id " XCORO_RE_ID
      "\\)");
}

TEST(NoExceptionsDeathTest, ValueOnErrorInRoot) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  xcoro::result<void> r = xcoro::errc::channel_closed;
  EXPECT_DEATH(r.value(), "xcoro: xcoro::result::value\\(\\) on an error, in root coroutine");
}

TEST(NoExceptions, DestroyedSuspendedFrameIsFreedWithoutUnwinding) {
  int destructors = 0;
  bool reached = false;
  {
    auto f = xcoro::xasync([&] {
      struct counts {
        int* n;
        ~counts() { ++*n; }
      } c{&destructors};
      reached = true;
      xcoro::xsuspend();
    });
    ASSERT_TRUE(f);
    EXPECT_EQ(f->status(), xcoro::status::suspended);
  }
  EXPECT_TRUE(reached);
  EXPECT_EQ(destructors, 0);
  // The stack went back to the pool: the next coroutine runs normally.
  auto g = xcoro::xasync([] { return 7; });
  ASSERT_TRUE(g);
  EXPECT_EQ(xcoro::xawait(*g), 7);
}

// Without exceptions a destroyed frame cannot be unwound, and freeing the stack of one that
// waits would leave the wait queue, the executor or the loop pointing into freed memory. It
// is cancelled instead (shields or not) and resumed until it returns: its blocking calls
// return errc::canceled, and its destructors run as it returns.

/// Counts destructor runs of objects on a coroutine's stack.
struct scope_count {
  int* n;
  ~scope_count() { ++*n; }
};

TEST(NoExceptions, DestroyedWhileInChannelRecvIsCancelledAndFinishes) {
  xcoro::executor ex;
  xcoro::channel<std::string> ch({.capacity = 1, .executor = &ex});
  int destructors = 0;
  bool saw_cancel = false;
  auto f = xcoro::xasync([&] {
    scope_count c{&destructors};
    std::optional<std::string> v = ch.recv();
    saw_cancel = !v && xcoro::cancel_requested();
    // Later blocking calls end at once as well.
    EXPECT_EQ(ch.send(std::string(40, 'x')).error(), xcoro::errc::canceled);
    return v;
  });
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status(), xcoro::status::suspended);
  f = {};
  EXPECT_TRUE(saw_cancel);
  EXPECT_EQ(destructors, 1);
  EXPECT_EQ(ch.size(), 0u);
  EXPECT_TRUE(ex.empty()) << "no stale wake-up left queued";
  // The channel works for others afterwards.
  auto g = xcoro::xasync([&] { return ch.recv(); });
  ASSERT_TRUE(ch.send(std::string(40, 'y')));
  while (ex.tick()) {
  }
  EXPECT_EQ(xcoro::xawait(*g), std::string(40, 'y'));
}

TEST(NoExceptions, DestroyedByAThirdCoroutineWhileInMutexLockInsideAShield) {
  xcoro::executor ex;
  xcoro::mutex m(&ex);
  ASSERT_TRUE(m.try_lock());  // root holds it
  int destructors = 0;
  xcoro::result<void> locked;
  std::optional<xcoro::frame_t<void>> f;
  f.emplace(std::move(*xcoro::xasync([&] {
    scope_count c{&destructors};
    xcoro::cancel_shield shield;  // a destroyed frame is finished all the same
    locked = m.lock();
  })));
  ASSERT_EQ(f->status(), xcoro::status::suspended);
  auto third = xcoro::xasync([&] { f.reset(); });
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status(), xcoro::status::done);
  EXPECT_EQ(locked.error(), xcoro::errc::canceled);
  EXPECT_EQ(destructors, 1);
  m.unlock();
  EXPECT_TRUE(m.try_lock()) << "the withdrawn waiter did not take the lock";
  m.unlock();
  EXPECT_TRUE(ex.empty());
}

// A parent in xawait for a child it started that waits too: the child is finished first,
// then the parent.
TEST(NoExceptions, DestroyedWhileInXawaitForAWaitingChild) {
  xcoro::executor ex;
  xcoro::semaphore sem(0, &ex);
  int destructors = 0;
  xcoro::result<void> acquired;
  auto parent = xcoro::xasync([&] {
    scope_count c{&destructors};
    auto child = xcoro::xasync([&] {
      scope_count d{&destructors};
      acquired = sem.acquire();
    });
    xcoro::xawait(*child);
  });
  ASSERT_TRUE(parent);
  ASSERT_EQ(parent->status(), xcoro::status::suspended);
  parent = {};
  EXPECT_EQ(acquired.error(), xcoro::errc::canceled);
  EXPECT_EQ(destructors, 2);
  sem.release(1);
  EXPECT_EQ(sem.available(), 1u);
  EXPECT_TRUE(ex.empty());
}

// Every kind of channel and sync wait: the destroyed coroutine's call returns canceled,
// its destructors run, and what it waited on works for others afterwards.
TEST(NoExceptions, DestroyedInEachKindOfWaitIsDrained) {
  xcoro::executor ex;
  xcoro::env saved = xcoro::get_env();
  xcoro::env e = saved;
  e.executor = &ex;
  xcoro::init_env(e);
  xcoro::channel<std::string> full({.capacity = 1});
  xcoro::channel<std::string> rendezvous({.capacity = 0});
  xcoro::semaphore sem(0);
  xcoro::wait_group wg;
  wg.add(1);
  ASSERT_TRUE(full.try_send(*std::make_unique<std::string>(40, 'f')));
  struct wait_case {
    const char* name;
    std::error_code (*run)(xcoro::channel<std::string>&, xcoro::channel<std::string>&,
                           xcoro::semaphore&, xcoro::wait_group&);
  };
  const wait_case cases[] = {
      {"buffered send",
       [](auto& f, auto&, auto&, auto&) { return f.send(std::string(40, 's')).error(); }},
      {"rendezvous send",
       [](auto&, auto& r, auto&, auto&) { return r.send(std::string(40, 'r')).error(); }},
      {"select",
       [](auto& f, auto& r, auto&, auto&) {
         std::optional<std::string> out;
         std::string v(40, 'v');
         return xcoro::select(xcoro::recv_case(r, out), xcoro::send_case(f, v)).error();
       }},
      {"semaphore::acquire", [](auto&, auto&, auto& s, auto&) { return s.acquire().error(); }},
      {"wait_group::wait", [](auto&, auto&, auto&, auto& w) { return w.wait().error(); }},
  };
  for (const wait_case& c : cases) {
    SCOPED_TRACE(c.name);
    int destructors = 0;
    std::error_code got;
    auto f = xcoro::xasync([&] {
      scope_count guard{&destructors};
      got = c.run(full, rendezvous, sem, wg);
    });
    ASSERT_TRUE(f);
    ASSERT_EQ(f->status(), xcoro::status::suspended);
    f = {};
    EXPECT_EQ(got, xcoro::errc::canceled);
    EXPECT_EQ(destructors, 1);
    EXPECT_TRUE(ex.empty());
  }
  EXPECT_EQ(full.size(), 1u) << "no drained send added a value";
  EXPECT_EQ(*full.try_recv(), std::string(40, 'f'));
  sem.release(1);
  EXPECT_EQ(sem.available(), 1u) << "no drained waiter took the permit";
  wg.done();
  xcoro::init_env(saved);
}

// A drained coroutine's task_group cannot wait for a child it did not start (nothing would
// resume it): the group drains its children directly. Found in review.
TEST(NoExceptions, ADrainedOwnersGroupDrainsChildrenItDidNotStart) {
  xcoro::executor ex;
  xcoro::env saved = xcoro::get_env();
  xcoro::env e = saved;
  e.executor = &ex;
  xcoro::init_env(e);
  xcoro::channel<int> ch({.capacity = 1});
  xcoro::channel<std::string> other({.capacity = 1});
  int child_ended = 0;
  bool owner_ended = false;
  auto owner = xcoro::frame_t<void>::init(nullptr, [&] {
    scope_count guard{&child_ended};
    xcoro::task_group g;
    // Spawned by a helper that returns, so the child is not in the owner's child list.
    auto h = xcoro::xasync([&] {
      (void)g.spawn([&] {
        scope_count inner{&child_ended};
        (void)other.recv();
      });
    });
    (void)ch.recv();
    owner_ended = true;
  });
  ASSERT_TRUE(owner);
  xcoro::xresume(*owner);
  ASSERT_EQ(owner->status(), xcoro::status::suspended);
  owner = {};
  EXPECT_TRUE(owner_ended);
  EXPECT_EQ(child_ended, 2) << "the child and the owner both returned";
  while (ex.tick()) {
  }
  xcoro::init_env(saved);
}

TEST(NoExceptionsDeathTest, ADrainedCoroutineThatSuspendsAgainAborts) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::channel<int> ch({.capacity = 1, .executor = &ex});
        auto f = xcoro::xasync([&] {
          xcoro::xframe()->set_name("stubborn");
          (void)ch.recv();
          xcoro::xsuspend();
        });
        f = {};
      },
      "xcoro: ~frame_t: coroutine 'stubborn' \\(id " XCORO_RE_ID
      "\\) suspended in a plain xsuspend while it was being finished");
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::env e = xcoro::get_env();
        e.executor = &ex;
        xcoro::init_env(e);
        auto slow = xcoro::xasync([] { xcoro::xsuspend(); });
        auto waiter = xcoro::xasync([&] {
          xcoro::xframe()->set_name("joiner");
          xcoro::xawait(*slow);  // a coroutine it did not start, which nothing finishes
        });
        auto third = xcoro::xasync([&] { waiter = {}; });  // destroyed by a third coroutine
      },
      "coroutine 'joiner' \\(id " XCORO_RE_ID "\\) kept waiting in xawait while it was being "
      "finished");
}

#if defined(__linux__)
TEST(NoExceptions, DestroyedWhileInAioSleepIsCancelledAndFinishes) {
  auto l = xcoro::aio::loop::create();
  ASSERT_TRUE(l);
  xcoro::aio::executor ex(*l);
  int destructors = 0;
  xcoro::result<void> slept;
  auto t0 = std::chrono::steady_clock::now();
  auto f = xcoro::xasync([&] {
    scope_count c{&destructors};
    slept = xcoro::aio::sleep(&ex, std::chrono::milliseconds(10000));
  });
  ASSERT_TRUE(f);
  f = {};
  EXPECT_EQ(slept.error(), xcoro::errc::canceled);
  EXPECT_EQ(destructors, 1);
  EXPECT_FALSE(ex.tick()) << "nothing left in flight";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(NoExceptions, DestroyedWhileInASocketReadIsCancelledAndFinishes) {
  auto l = xcoro::aio::loop::create();
  ASSERT_TRUE(l);
  xcoro::aio::executor ex(*l);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  xcoro::aio::tcp end(&ex, fds[0]);
  xcoro::result<std::size_t> got = std::size_t{99};
  auto f = xcoro::xasync([&] {
    char buf[16];
    got = end.read(std::as_writable_bytes(std::span(buf)));
  });
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status(), xcoro::status::suspended);
  f = {};
  EXPECT_EQ(got.error(), xcoro::errc::canceled);
  EXPECT_FALSE(ex.tick()) << "nothing left in flight";
  // The socket still works.
  ASSERT_EQ(::write(fds[1], "hi", 2), 2);
  auto g = xcoro::xasync([&] {
    char buf[16];
    return end.read(std::as_writable_bytes(std::span(buf)));
  });
  while (g->status() != xcoro::status::done && ex.tick()) {
  }
  auto n = xcoro::xawait(*g);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  ::close(fds[1]);
}
#endif

}  // namespace
