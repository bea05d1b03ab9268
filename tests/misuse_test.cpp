// Death tests: every programming error aborts with one line naming the call and the
// coroutine, never undefined behaviour. Each abort path of the library has a test here or
// beside its component's tests (channel_test, executor_test, sync_test); docs/design.md
// does not list them, `grep -rn fatal src include/xcoro` does.
#if defined(_WIN32)
#include <windows.h>
#else
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <chrono>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_stacks.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/sync.hpp"

#if defined(__linux__)
#include "xcoro/aio.hpp"  // async IO is built on Linux only
#endif

namespace {

using xcoro::frame_t;
using int_gen = frame_t<void, int>;
using double_gen = frame_t<void, double>;

class Misuse : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style()); }
};

TEST_F(Misuse, XsuspendFromRootBeforeAnySwitch) {
  EXPECT_DEATH(xcoro::xsuspend(), "xcoro: xsuspend: root coroutine \\(id 0\\) called from root");
}

TEST_F(Misuse, XsuspendFromRootAfterSwitches) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] { xcoro::xsuspend(); });
        xcoro::xresume(*f);
        xcoro::xsuspend();
      },
      "xcoro: xsuspend: root coroutine \\(id 0\\) called from root");
}

TEST_F(Misuse, ResumeFinished) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] {});
        f->frame()->set_name("finished-one");
        xcoro::xresume(*f);
      },
      "xcoro: xresume: coroutine 'finished-one' \\(id " XCORO_RE_ID "\\) has finished and cannot be "
      "resumed");
}

TEST_F(Misuse, XnextWhenCoroutineReturns) {
  using gen = frame_t<int, int>;
  EXPECT_DEATH(
      {
        auto g = gen::init(nullptr, [] {
          gen::xyield(1);
          return 2;
        });
        g->xnext_start();
        g->xnext();
      },
      "xcoro: xnext: coroutine \\(id " XCORO_RE_ID "\\) returned instead of yielding");
}

TEST_F(Misuse, XnextEndWhenCoroutineYields) {
  using gen = frame_t<int, int>;
  EXPECT_DEATH(
      {
        auto g = gen::init(nullptr, [] {
          gen::xyield(1);
          gen::xyield(2);
          return 3;
        });
        g->xnext_start();
        g->xnext_end();
      },
      "xcoro: xnext_end: coroutine \\(id " XCORO_RE_ID "\\) yielded or suspended instead of returning");
}

TEST_F(Misuse, XyieldWrongType) {
  EXPECT_DEATH(
      {
        auto g = int_gen::init(nullptr, [] { double_gen::xyield(1.0); });
        g->frame()->set_name("typed");
        g->xnext_start();
      },
      "xcoro: xyield: coroutine 'typed' \\(id " XCORO_RE_ID "\\) is not a frame_t with this "
      "Yield/Inject type");
}

TEST_F(Misuse, XyieldInPlainCoroutine) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] { int_gen::xyield(1); });
      },
      "xcoro: xyield: coroutine \\(id " XCORO_RE_ID "\\) is not a frame_t with this Yield/Inject type");
}

TEST_F(Misuse, XyieldFromRoot) {
  EXPECT_DEATH(int_gen::xyield(1),
               "xcoro: xyield: root coroutine \\(id 0\\) called from root");
}

TEST_F(Misuse, XnextStartTwice) {
  using gen = frame_t<void, int>;
  EXPECT_DEATH(
      {
        auto g = gen::init(nullptr, [] {
          gen::xyield(1);
          gen::xyield(2);
        });
        g->xnext_start();
        g->xnext_start();
      },
      "xcoro: xnext_start: coroutine \\(id " XCORO_RE_ID "\\) was already started");
}

TEST_F(Misuse, XawaitFromRootOnUnfinished) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] { xcoro::xsuspend(); });
        f->frame()->set_name("pending");
        xcoro::xawait(*f);
      },
      "xcoro: xawait: coroutine 'pending' \\(id " XCORO_RE_ID "\\) has not finished and xawait was "
      "called from root");
}

TEST_F(Misuse, ResumeFromAnotherThread) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] { xcoro::xsuspend(); });
        xcoro::frame h = f->frame();
        std::thread t([h] { xcoro::xresume(h); });
        t.join();
      },
      "xcoro: xresume: coroutine \\(id " XCORO_RE_ID "\\) belongs to another thread");
}

TEST_F(Misuse, SwallowedForcedUnwind) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] {
          for (;;) {
            try {
              xcoro::xsuspend();
            } catch (...) {
              // wrong: swallows xcoro::forced_unwind and suspends again
            }
          }
        });
        f->frame()->set_name("stubborn");
      },
      "xcoro: xsuspend: coroutine 'stubborn' \\(id " XCORO_RE_ID "\\) suspended while its frame_t "
      "unwinds it \\(xcoro::forced_unwind must not be caught and kept\\)");
}

TEST_F(Misuse, DestroyOwnFrame) {
  EXPECT_DEATH(
      {
        frame_t<void> self;
        auto f = xcoro::xasync([&self] {
          xcoro::xsuspend();
          self = frame_t<void>();
        });
        self = std::move(*f);
        xcoro::xresume(self);
      },
      "xcoro: ~frame_t: coroutine \\(id " XCORO_RE_ID "\\) is running");
}

int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  return depth > 1000000 ? pad[0] : recurse(depth + 1) + pad[0];
}

// Overflow into the guard page of a default stack is reported by name and id.
TEST_F(Misuse, StackOverflowIsReported) {
  EXPECT_DEATH(
      {
        auto f = frame_t<int>::init(nullptr, recurse, 0);
        f->frame()->set_name("deep");
        xcoro::xresume(*f);
      },
      "xcoro: stack overflow in coroutine 'deep' \\(id " XCORO_RE_ID "\\)");
}

#if defined(_WIN32)

/// An access violation that is not an overflow: a store into a PAGE_NOACCESS page.
void fault_outside_any_stack() {
  void* page = VirtualAlloc(nullptr, 4096, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
  *static_cast<volatile int*>(page) = 1;
}

// A fault that is not a coroutine's overflow goes on to the next exception handler (here
// one installed after xcoro's), not to a false report.
TEST_F(Misuse, OtherFaultsReachNextHandler) {
  EXPECT_EXIT(
      {
        auto f = xcoro::xasync([] { xcoro::xsuspend(); });  // installs xcoro's handler
        AddVectoredExceptionHandler(0, [](EXCEPTION_POINTERS* info) -> LONG {
          if (info->ExceptionRecord->ExceptionCode == EXCEPTION_ACCESS_VIOLATION) {
            static const char msg[] = "next handler ran\n";
            DWORD written = 0;
            WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, sizeof msg - 1, &written, nullptr);
            TerminateProcess(GetCurrentProcess(), 3);
          }
          return EXCEPTION_CONTINUE_SEARCH;
        });
        fault_outside_any_stack();
      },
      ::testing::ExitedWithCode(3), "next handler ran");
}

// With no other handler, the fault ends the process as an access violation, unreported.
TEST_F(Misuse, OtherFaultsKeepDefaultAction) {
  EXPECT_EXIT(
      {
        auto f = xcoro::xasync([] { fault_outside_any_stack(); });
      },
      [](int code) { return static_cast<DWORD>(code) == EXCEPTION_ACCESS_VIOLATION; }, "^$");
}

#else

/// A real SIGSEGV that is not an overflow and not undefined behaviour the sanitizers would
/// report first (as a null dereference is): a store into a PROT_NONE page.
void fault_outside_any_stack() {
  void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *static_cast<volatile int*>(page) = 1;
}

void previous_segv_handler(int) {
  static const char msg[] = "previous handler ran\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  _exit(3);
}

// A fault that is not a coroutine's overflow goes to the handler installed before xcoro's.
TEST_F(Misuse, OtherFaultsReachPreviousHandler) {
  EXPECT_EXIT(
      {
        struct sigaction sa {};
        sa.sa_handler = previous_segv_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, nullptr);
        auto f = xcoro::xasync([] { xcoro::xsuspend(); });  // installs xcoro's handler
        fault_outside_any_stack();
      },
      ::testing::ExitedWithCode(3), "previous handler ran");
}

// The same fault with no previous handler still dies by SIGSEGV, not by a false report.
TEST_F(Misuse, OtherFaultsKeepDefaultAction) {
  if (xcoro_test::sanitized) {
    GTEST_SKIP() << "the sanitizer's own SIGSEGV handler is the previous handler here";
  }
  if (xcoro_test::emulated) {
    GTEST_SKIP() << "qemu-user reports a guest's fatal SIGSEGV in its own way";
  }
  EXPECT_EXIT(
      {
        auto f = xcoro::xasync([] { fault_outside_any_stack(); });
      },
      ::testing::KilledBySignal(SIGSEGV), "^$");
}

// A SIGSEGV sent with raise() (not a fault) still kills, once xcoro's handler is in.
TEST_F(Misuse, SentSegvStillKills) {
  if (xcoro_test::sanitized || xcoro_test::emulated) {
    GTEST_SKIP() << "the sanitizer's own SIGSEGV handler is the previous handler here";
  }
  EXPECT_EXIT(
      {
        auto f = xcoro::xasync([] { xcoro::xsuspend(); });
        raise(SIGSEGV);
        _exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

#endif  // _WIN32

TEST_F(Misuse, SuspendWhileBeingUnwound) {
  EXPECT_DEATH(
      {
        struct suspends_in_dtor {
          ~suspends_in_dtor() { xcoro::xsuspend(); }
        };
        auto f = xcoro::xasync([] {
          suspends_in_dtor d;
          xcoro::xsuspend();
        });
        f->frame()->set_name("clingy");
      },
      "xcoro: xsuspend: coroutine 'clingy' \\(id " XCORO_RE_ID "\\) suspended while its frame_t unwinds "
      "it");
}

// A caller-owned stack has no guard page; the canary at its base catches an overflow at
// the next suspend point (debug builds, and always in xsuspend_safe).
TEST_F(Misuse, CanaryCheckedAtSuspend) {
  if (!xcoro::detail::debug_checks) {
    GTEST_SKIP() << "the canary is checked by xsuspend only in debug builds";
  }
  EXPECT_DEATH(
      {
        alignas(16) static std::byte mem[2 * xcoro_test::small_stack];
        auto f = frame_t<void>::init(xcoro::stack_span(mem), [] {
          mem[3] = std::byte{0};
          xcoro::xsuspend();
        });
        xcoro::xresume(*f);
      },
      "xcoro: xsuspend: coroutine \\(id " XCORO_RE_ID "\\) overflowed its stack");
}

// ---------------------------------------------------------------------------------------
// Empty frames: the message names the caller, since there is no coroutine to name.

TEST_F(Misuse, ResumeNullFrame) {
  EXPECT_DEATH(xcoro::xresume(xcoro::frame(nullptr)),
               "xcoro: xresume: no coroutine \\(an empty or moved-from frame_t, or a null "
               "frame\\), called from root coroutine \\(id 0\\)");
}

TEST_F(Misuse, AwaitEmptyFrame) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] {
          xcoro::xframe()->set_name("awaiter");
          frame_t<int> empty;
          xcoro::xawait(empty);
        });
      },
      "xcoro: xawait: no coroutine \\(an empty or moved-from frame_t, or a null frame\\), "
      "called from coroutine 'awaiter' \\(id " XCORO_RE_ID "\\)");
}

TEST_F(Misuse, XnextStartOnMovedFromFrame) {
  EXPECT_DEATH(
      {
        auto g = int_gen::init(nullptr, [] { int_gen::xyield(1); });
        int_gen taken = std::move(*g);
        g->xnext_start();
      },
      "xcoro: xnext_start: no coroutine \\(an empty or moved-from frame_t, or a null "
      "frame\\), called from root coroutine \\(id 0\\)");
}

TEST_F(Misuse, XreturnedOnEmptyFrame) {
  EXPECT_DEATH(
      {
        frame_t<int> empty;
        (void)empty.xreturned();
      },
      "xcoro: xreturned: no coroutine \\(an empty or moved-from frame_t, or a null frame\\)");
}

TEST_F(Misuse, XawaitAnyOfNothing) {
  EXPECT_DEATH(
      {
        std::vector<frame_t<void>> none;
        xcoro::xawait_any(none);
      },
      "xcoro: xawait_any: root coroutine \\(id 0\\) was given no frames");
}

// ---------------------------------------------------------------------------------------
// Generators used the wrong way round.

TEST_F(Misuse, XnextOnFinishedGenerator) {
  EXPECT_DEATH(
      {
        auto g = int_gen::init(nullptr, [] { int_gen::xyield(1); });
        g->frame()->set_name("spent");
        g->xnext_start();
        g->xnext_end();
        g->xnext();
      },
      "xcoro: xnext: coroutine 'spent' \\(id " XCORO_RE_ID "\\) is not suspended at a yield");
}

TEST_F(Misuse, XnextAfterPlainSuspend) {
  EXPECT_DEATH(
      {
        auto g = int_gen::init(nullptr, [] { xcoro::xsuspend(); });
        g->frame()->set_name("shy");
        g->xnext_start();
      },
      "xcoro: xnext_start: coroutine 'shy' \\(id " XCORO_RE_ID "\\) suspended without yielding a value");
}

TEST_F(Misuse, XyieldWithoutInjectedValue) {
  using gen = frame_t<void, int, int>;
  EXPECT_DEATH(
      {
        auto g = gen::init(nullptr, [] { gen::xyield(1); });
        g->frame()->set_name("thirsty");
        g->xnext_start();
        xcoro::xresume(*g);  // resumed, but not by xnext: no value injected
      },
      "xcoro: xyield: coroutine 'thirsty' \\(id " XCORO_RE_ID "\\) was resumed without an injected "
      "value");
}

TEST_F(Misuse, MoveOnlyResultTakenTwice) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] { return std::make_unique<int>(1); });
        f->frame()->set_name("once");
        (void)f->xreturned();
        (void)f->xreturned();
      },
      "xcoro: xreturned: coroutine 'once' \\(id " XCORO_RE_ID "\\) had its result moved out already");
}

TEST_F(Misuse, XreturnedBeforeFinish) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] {
          xcoro::xsuspend();
          return 1;
        });
        f->frame()->set_name("early");
        (void)f->xreturned();
      },
      "xcoro: xreturned: coroutine 'early' \\(id " XCORO_RE_ID "\\) has not finished");
}

// take_returned (xawait's half for an rvalue frame_t) is public too. xawait itself never
// reaches this check, since it waits first; called directly, the message names xawait.
TEST_F(Misuse, TakeReturnedBeforeFinish) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] {
          xcoro::xsuspend();
          return 1;
        });
        f->frame()->set_name("early");
        (void)f->take_returned();
      },
      "xcoro: .+: coroutine 'early' \\(id " XCORO_RE_ID "\\) has not finished");
}

TEST_F(Misuse, XsuspendBlockFromRoot) {
  EXPECT_DEATH(xcoro::xsuspend_block([] {}),
               "xcoro: xsuspend_block: root coroutine \\(id 0\\) called from root");
}

// ---------------------------------------------------------------------------------------
// A starter woken by its finishing child whose own resumer has finished: control goes back
// to the child's resumer, which is waiting in its xresume for it (it used to go to the
// finished coroutine, an abort; found by the cancellation model test).

/// R starts C (C's resumer is R); C starts X; X resumes R, which returns (to root, its
/// starter). Root resumes X, which returns to its starter C. C now runs `tail`, and the
/// coroutine that last resumed it, R, has finished: C goes back to root instead.
/// Returns C's status when root's xresume(x) returns, and whether `tail` ran to its end.
std::pair<xcoro::status, bool> with_finished_resumer(void (*tail)()) {
  frame_t<void> r;
  frame_t<void> c;
  frame_t<void> x;
  bool tail_done = false;
  r = std::move(*frame_t<void>::init(nullptr, [&] {
    c = std::move(*xcoro::xasync([&, tail] {
      x = std::move(*frame_t<void>::init(nullptr, [&] { xcoro::xresume(r.frame()); }));
      xcoro::xresume(x);
      tail();
      tail_done = true;
    }));
  }));
  xcoro::xresume(r);
  EXPECT_EQ(r.status(), xcoro::status::done);
  xcoro::xresume(x);
  EXPECT_EQ(x.status(), xcoro::status::done);
  std::pair<xcoro::status, bool> seen{c.status(), tail_done};
  if (c.status() == xcoro::status::suspended) {
    xcoro::xresume(c);  // lets it finish, back to root
    EXPECT_TRUE(tail_done);
  }
  EXPECT_EQ(c.status(), xcoro::status::done);
  return seen;
}

TEST_F(Misuse, SuspendWithFinishedResumerGoesToTheChildsResumer) {
  auto [st, done] = with_finished_resumer([] { xcoro::xsuspend(); });
  EXPECT_EQ(st, xcoro::status::suspended);
  EXPECT_FALSE(done);
}

TEST_F(Misuse, AwaitWithFinishedResumerGoesToTheChildsResumer) {
  auto [st, done] = with_finished_resumer([] {
    auto pending = xcoro::frame_t<void>::init(nullptr, [] {});
    EXPECT_FALSE(xcoro::xsuspend_safe());  // back to root, then resumed
    xcoro::xresume(*pending);
    xcoro::xawait(*pending);
  });
  EXPECT_EQ(st, xcoro::status::suspended);
  EXPECT_FALSE(done);
}

TEST_F(Misuse, ReturnWithFinishedResumerGoesToTheChildsResumer) {
  auto [st, done] = with_finished_resumer([] {});
  EXPECT_EQ(st, xcoro::status::done);
  EXPECT_TRUE(done);
}

// A starter that is itself waiting in an xresume on the way to its finishing child keeps
// its resumer: taking over the child's would make the two resume each other forever.
// Found in review: A starts B, then C; C resumes B, which finishes into A.
TEST_F(Misuse, AStarterWaitingInXresumeKeepsItsResumer) {
  bool a_ready = false;
  bool c_ready = false;
  frame_t<void> b;
  frame_t<void> c;
  auto a = frame_t<void>::init(nullptr, [&] {
    b = std::move(*xcoro::xasync([] { xcoro::xsuspend(); }));
    c = std::move(*xcoro::xasync([&] {
      xcoro::xresume(b);  // B finishes, into its starter A
      while (!c_ready) {
        xcoro::xsuspend();
      }
    }));
    while (!a_ready) {
      xcoro::xsuspend();  // to root, not to C
    }
  });
  ASSERT_TRUE(a);
  xcoro::xresume(*a);  // returns: root gets control back
  EXPECT_EQ(b.status(), xcoro::status::done);
  EXPECT_EQ(a->status(), xcoro::status::suspended);
  a_ready = true;
  c_ready = true;
  xcoro::xresume(*a);
  EXPECT_EQ(a->status(), xcoro::status::done);
}

// ---------------------------------------------------------------------------------------
// Destroying a frame_t at the wrong time.

TEST_F(Misuse, DestroyFrameOfCoroutineInXresume) {
  EXPECT_DEATH(
      {
        frame_t<void> outer;
        outer = std::move(*frame_t<void>::init(nullptr, [&outer] {
          auto inner = xcoro::xasync([&outer] { outer = frame_t<void>(); });
        }));
        outer.frame()->set_name("resuming");
        xcoro::xresume(outer);
      },
      "xcoro: ~frame_t: coroutine 'resuming' \\(id " XCORO_RE_ID "\\) is waiting for a coroutine it "
      "resumed and cannot be destroyed");
}

// A coroutine that catches forced_unwind and switches away instead of finishing.
TEST_F(Misuse, ForcedUnwindCaughtAndSwitchedAway) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([root = xcoro::xframe()] {
          try {
            xcoro::xsuspend();
          } catch (...) {
            xcoro::xresume(root);  // wrong: neither rethrows nor finishes
          }
        });
        f->frame()->set_name("escapee");
      },
      "xcoro: ~frame_t: coroutine 'escapee' \\(id " XCORO_RE_ID "\\) swallowed xcoro::forced_unwind");
}

// ---------------------------------------------------------------------------------------
// The executor and the sync primitives.

TEST_F(Misuse, TickInsideTick) {
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        auto f = xcoro::xasync([&ex] {
          xcoro::xframe()->set_name("ticker");
          xcoro::xsuspend();
          ex.tick();
        });
        xcoro::executor::func wake;
        wake.fn = [](void* c) { xcoro::xresume(static_cast<xcoro::coro*>(c)); };
        wake.userdata = f->frame();
        ex.run_soon(wake);
        ex.tick();
      },
      "xcoro: executor::tick: coroutine 'ticker' \\(id " XCORO_RE_ID "\\) called tick\\(\\) from inside "
      "tick\\(\\)");
}

TEST_F(Misuse, DestroyMutexWithWaiter) {
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        auto m = std::make_unique<xcoro::mutex>(&ex);
        (void)m->lock();  // held by root
        auto w = xcoro::xasync([&m] { (void)m->lock(); });
        m.reset();
      },
      "xcoro: ~mutex: destroyed while coroutines still wait on it \\(destroyed by root "
      "coroutine \\(id 0\\)\\)");
}

TEST_F(Misuse, DestroySemaphoreWithWaiter) {
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        auto s = std::make_unique<xcoro::semaphore>(0, &ex);
        auto w = xcoro::xasync([&s] { (void)s->acquire(); });
        auto killer = xcoro::xasync([&s] {
          xcoro::xframe()->set_name("killer");
          s.reset();
        });
      },
      "xcoro: ~semaphore: destroyed while coroutines still wait on it \\(destroyed by "
      "coroutine 'killer' \\(id " XCORO_RE_ID "\\)\\)");
}

// A waiter already handed its unit but not yet run still counts as waiting.
TEST_F(Misuse, DestroySemaphoreWithSignalledWaiter) {
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        auto s = std::make_unique<xcoro::semaphore>(0, &ex);
        auto w = xcoro::xasync([&s] { (void)s->acquire(); });
        s->release();
        s.reset();
      },
      "xcoro: ~semaphore: destroyed while coroutines still wait on it");
}

TEST_F(Misuse, DestroyWaitGroupWithWaiter) {
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        auto wg = std::make_unique<xcoro::wait_group>(&ex);
        wg->add(1);
        auto w = xcoro::xasync([&wg] { (void)wg->wait(); });
        wg.reset();
      },
      "xcoro: ~wait_group: destroyed while coroutines still wait on it \\(destroyed by root "
      "coroutine \\(id 0\\)\\)");
}

TEST_F(Misuse, SemaphoreAcquireInRoot) {
  EXPECT_DEATH(
      {
        xcoro::executor ex;
        xcoro::semaphore s(0, &ex);
        (void)s.acquire();
      },
      "xcoro: semaphore::acquire: root coroutine \\(id 0\\) would block in root");
}

TEST_F(Misuse, WaitGroupWaitWithoutExecutor) {
  EXPECT_DEATH(
      {
        xcoro::wait_group wg(nullptr);  // and no env executor
        wg.add(1);
        auto w = xcoro::xasync([&wg] {
          xcoro::xframe()->set_name("stranded");
          (void)wg.wait();
        });
      },
      "xcoro: wait_group::wait: coroutine 'stranded' \\(id " XCORO_RE_ID "\\) has no executor");
}

// ---------------------------------------------------------------------------------------
// Async IO without an executor.

#if defined(__linux__)

TEST_F(Misuse, AioWithoutExecutor) {
  EXPECT_DEATH(
      {
        auto f = xcoro::xasync([] {
          xcoro::xframe()->set_name("sleeper");
          (void)xcoro::aio::sleep(nullptr, std::chrono::milliseconds(1));
        });
      },
      "xcoro: aio::sleep: coroutine 'sleeper' \\(id " XCORO_RE_ID "\\) has no aio executor");
}
#endif

}  // namespace

// ---------------------------------------------------------------------------------------
// Stack overflow by one large frame.

namespace {

/// A 512 KiB frame with a store near its lowest address. Not instrumented by
/// AddressSanitizer, which could move the array to its heap-allocated fake stack. Unused
/// where the test below skips.
#if defined(__clang__) || defined(__GNUC__)
__attribute__((noinline, unused, no_sanitize("address")))
#endif
int large_frame(int v) {
  volatile char big[512 * 1024];
  // A run-time index, so that the compiler cannot shrink the array to what constant
  // indices touch (clang does, volatile or not).
  big[v - 1] = static_cast<char>(v);
  return big[v - 1] + big[sizeof big - v];
}

// Built with stack-clash protection (xcoro's CMake target passes it on to its users), the
// frame is probed page by page from the top, faults on the guard page below the 64 KiB
// stack instead of jumping over it, and the overflow is reported by name.
TEST_F(Misuse, LargeFrameOverflowIsReported) {
#if !defined(XCORO_TEST_STACK_CLASH_PROTECTION)
  GTEST_SKIP() << "built without -fstack-clash-protection (unsupported by this compiler/target)";
#elif !defined(__x86_64__) && !(defined(__aarch64__) && !defined(__clang__))
  // Elsewhere the compiler may accept the flag without probing page by page (GCC 12 on
  // riscv64 does not probe at all; clang 14 probes on x86-64 only).
  GTEST_SKIP() << "stack-clash probes are page-sized only on x86-64 and with GCC on aarch64";
#else
  EXPECT_DEATH(
      {
        auto f = frame_t<int>::init(nullptr, large_frame, 1);
        f->frame()->set_name("large-frame");
        xcoro::xresume(*f);
      },
      "xcoro: stack overflow in coroutine 'large-frame' \\(id " XCORO_RE_ID "\\)");
#endif
}

}  // namespace
