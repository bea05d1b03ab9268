// Tests of the coroutine core: zigcoro's core tests 1-8 ported, plus the fixes xcoro makes
// over it for resume/suspend, completion, FP control state and exception state.
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include <cfenv>
#include <memory>
#include <thread>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#if defined(_WIN32)
#include <windows.h>
#endif

#include "support/in_root.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/coro.hpp"

namespace {

using xcoro::frame_t;
using xcoro::status;

// zigcoro test 1: "basic suspend and resume". A 4 KiB caller stack; steps 0..7 interleave
// between root and the coroutine.
std::vector<int> steps;

void step_body() {
  EXPECT_GT(xcoro::remaining_stack_size(), 2048u);
  steps.push_back(1);
  xcoro::xsuspend();
  steps.push_back(3);
  xcoro::xsuspend();
  steps.push_back(5);
}

TEST(Coro, BasicSuspendAndResume) {
  alignas(16) static std::byte mem[xcoro_test::small_stack];
  steps.clear();
  auto f = frame_t<void>::init(xcoro::stack_span(mem), step_body);
  ASSERT_TRUE(f);
  steps.push_back(0);
  EXPECT_EQ(f->status(), status::start);
  xcoro::xresume(f->frame());
  EXPECT_EQ(f->status(), status::suspended);
  steps.push_back(2);
  xcoro::xresume(f->frame());
  EXPECT_EQ(f->status(), status::suspended);
  steps.push_back(4);
  xcoro::xresume(f->frame());
  EXPECT_EQ(f->status(), status::done);
  steps.push_back(6);
  steps.push_back(7);
  EXPECT_EQ(steps, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

// zigcoro test 2: "with values", through the coroutine-local storage pointer.
struct test_values {
  std::size_t* x;
};

void values_body() {
  auto* v = xcoro::xframe()->get_storage<test_values>();
  *v->x += 1;
  xcoro::xsuspend();
  *v->x += 3;
}

TEST(Coro, WithValues) {
  std::size_t x = 0;
  test_values vals{&x};
  auto f = frame_t<void>::init(xcoro_test::small_stack, values_body);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->frame()->get_storage<test_values>(), nullptr);
  f->frame()->set_storage(&vals);
  EXPECT_EQ(x, 0u);
  xcoro::xresume(f->frame());
  EXPECT_EQ(x, 1u);
  xcoro::xresume(f->frame());
  EXPECT_EQ(x, 4u);
  EXPECT_EQ(f->status(), status::done);
}

std::size_t add_then_return(std::size_t* x) {
  *x += 1;
  xcoro::xsuspend();
  *x += 3;
  xcoro::xsuspend();
  return *x + 10;
}

// zigcoro test 3: "with CoroT": created, not started; three resumes.
TEST(Coro, WithFrameT) {
  std::size_t x = 0;
  auto f = frame_t<std::size_t>::init(nullptr, add_then_return, &x);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status(), status::start);
  EXPECT_EQ(x, 0u);
  xcoro::xresume(*f);
  EXPECT_EQ(x, 1u);
  xcoro::xresume(*f);
  EXPECT_EQ(x, 4u);
  xcoro::xresume(*f);
  EXPECT_EQ(x, 4u);
  EXPECT_EQ(f->status(), status::done);
  EXPECT_EQ(f->xreturned(), 14u);
  static_assert(std::is_same_v<decltype(f->xreturned()), std::size_t>);
}

// zigcoro test 5: resuming self from root is a no-op.
TEST(Coro, ResumeSelfIsNoop) {
  XCORO_TEST_REQUIRES_ROOT();
  auto before = xcoro::xframe()->invocation();
  xcoro::xresume(xcoro::xframe());
  EXPECT_EQ(xcoro::xframe()->invocation(), before);
  EXPECT_FALSE(xcoro::in_coro());
}

// zigcoro test 6: "with FrameT and xasync xawait".
TEST(Coro, XasyncXawait) {
  std::size_t x = 0;
  auto f = xcoro::xasync(add_then_return, &x);
  ASSERT_TRUE(f);
  EXPECT_EQ(x, 1u);  // eager start, up to the first suspend
  xcoro::xresume(*f);
  EXPECT_EQ(x, 4u);
  xcoro::xresume(*f);
  EXPECT_EQ(f->status(), status::done);
  EXPECT_EQ(x, 4u);
  EXPECT_EQ(xcoro::xawait(*f), 14u);
  EXPECT_EQ(xcoro::xawait(*f), 14u);  // a finished frame can be awaited again
}

// zigcoro test 7: "xawait error". The C++ analogue of an error union is an exception
// (rethrown by xawait) or a result<T> error (handed back unchanged).
TEST(Coro, XawaitRethrowsException) {
  auto f = xcoro::xasync([]() -> int {
    xcoro::xsuspend();
    throw std::runtime_error("something bad");
  });
  ASSERT_TRUE(f);
  xcoro::xresume(*f);
  EXPECT_EQ(f->status(), status::done);
  EXPECT_THROW(xcoro::xawait(*f), std::runtime_error);
  EXPECT_THROW(f->xreturned(), std::runtime_error);
}

TEST(Coro, XawaitHandsBackErrorValue) {
  auto f = xcoro::xasync([]() -> xcoro::result<int> {
    xcoro::xsuspend();
    return xcoro::errc::eof;
  });
  ASSERT_TRUE(f);
  xcoro::xresume(*f);
  xcoro::result<int> r = xcoro::xawait(*f);
  EXPECT_EQ(r.error(), xcoro::errc::eof);
}

// zigcoro test 8: "suspend block": the block runs on the resumer's side, after the switch.
TEST(Coro, SuspendBlock) {
  bool ran = false;
  auto f = xcoro::xasync([&ran] {
    xcoro::frame self = xcoro::xframe();
    xcoro::xsuspend_block([&ran, self] {
      ran = true;
      EXPECT_EQ(self->status(), status::suspended);
      EXPECT_NE(self, xcoro::xframe());
      xcoro::xresume(self);
    });
  });
  ASSERT_TRUE(f);
  EXPECT_TRUE(ran);
  EXPECT_EQ(f->status(), status::done);
}

TEST(Coro, IdsAndInvocations) {
  XCORO_TEST_REQUIRES_ROOT();
  EXPECT_EQ(xcoro::xframe()->id(), 0u);
  auto a = xcoro::xasync([] { xcoro::xsuspend(); });
  auto b = xcoro::xasync([] { xcoro::xsuspend(); });
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->frame()->id(), a->frame()->id() + 1);
  EXPECT_EQ(a->frame()->invocation(), 1u);
  std::uint64_t root_before = xcoro::xframe()->invocation();
  xcoro::xresume(*a);
  xcoro::xresume(*b);
  EXPECT_EQ(a->frame()->invocation(), 2u);
  EXPECT_EQ(xcoro::xframe()->invocation(), root_before + 2);
}

TEST(Coro, Names) {
  auto f = xcoro::xasync([] { xcoro::xsuspend(); });
  ASSERT_TRUE(f);
  EXPECT_EQ(f->frame()->name(), "");
  f->frame()->set_name("worker");
  EXPECT_EQ(f->frame()->name(), "worker");
  f->frame()->set_name(std::string(100, 'n'));
  EXPECT_EQ(f->frame()->name(), std::string(31, 'n'));
  // An empty view's data() is null: nothing is copied from it (UBSan's nonnull check).
  f->frame()->set_name(std::string_view{});
  EXPECT_EQ(f->frame()->name(), "");
  xcoro::xresume(*f);
}

TEST(Coro, XframeAndInCoro) {
  XCORO_TEST_REQUIRES_ROOT();
  xcoro::frame seen = nullptr;
  bool inside = false;
  auto f = xcoro::xasync([&] {
    seen = xcoro::xframe();
    inside = xcoro::in_coro();
  });
  ASSERT_TRUE(f);
  EXPECT_EQ(seen, f->frame());
  EXPECT_TRUE(inside);
  EXPECT_FALSE(xcoro::in_coro());
}

// A finished coroutine returns to its first resumer, not to its latest one (zigcoro).
TEST(Coro, FinishReturnsToFirstResumer) {
  std::vector<std::string> log;
  xcoro::frame child = nullptr;
  frame_t<void> child_frame;
  auto parent = xcoro::xasync([&] {
    auto c = xcoro::xasync([&] {
      log.push_back("child start");
      xcoro::xsuspend();
      log.push_back("child end");
    });
    child = c->frame();
    child_frame = std::move(*c);
    log.push_back("parent waits");
    xcoro::xsuspend();  // to root; the child's completion wakes us here
    log.push_back("parent woken");
  });
  ASSERT_TRUE(parent);
  xcoro::xresume(child);  // root resumes the child; it finishes into the parent
  EXPECT_EQ(log, (std::vector<std::string>{"child start", "parent waits", "child end",
                                           "parent woken"}));
  EXPECT_EQ(parent->status(), status::done);
  EXPECT_EQ(child_frame.status(), status::done);
}

// If the first resumer has finished, the child returns to its latest resumer instead of
// switching into a dead coroutine.
TEST(Coro, OrphanReturnsToLatestResumer) {
  frame_t<int> child;
  auto parent = xcoro::xasync([&] {
    auto c = xcoro::xasync([] {
      xcoro::xsuspend();
      return 7;
    });
    child = std::move(*c);
  });
  ASSERT_TRUE(parent);
  EXPECT_EQ(parent->status(), status::done);
  parent = {};  // the parent's stack is gone
  xcoro::xresume(child);
  EXPECT_EQ(child.status(), status::done);
  EXPECT_EQ(xcoro::xawait(child), 7);
}

TEST(Coro, ArgumentsAreStoredByValue) {
  std::string s = "before";
  auto f = xcoro::xasync(
      [](std::string copy, int n) {
        xcoro::xsuspend();
        return copy + std::to_string(n);
      },
      s, 1);
  ASSERT_TRUE(f);
  s = "after";
  xcoro::xresume(*f);
  EXPECT_EQ(xcoro::xawait(*f), "before1");
}

TEST(Coro, MoveOnlyArgumentsAndResult) {
  auto f = xcoro::xasync(
      [](std::unique_ptr<int> p) {
        xcoro::xsuspend();
        *p += 1;
        return p;
      },
      std::make_unique<int>(41));
  ASSERT_TRUE(f);
  xcoro::xresume(*f);
  std::unique_ptr<int> r = xcoro::xawait(std::move(*f));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
}

TEST(Coro, AwaitFromAnotherCoroutine) {
  auto child = xcoro::xasync([] {
    xcoro::xsuspend();
    return 5;
  });
  ASSERT_TRUE(child);
  int got = 0;
  // The awaiter is the child's starter's sibling: it polls with xsuspend, and root
  // resumes the child and then the awaiter.
  auto waiter = xcoro::xasync([&] { got = xcoro::xawait(*child); });
  ASSERT_TRUE(waiter);
  EXPECT_EQ(waiter->status(), status::suspended);
  xcoro::xresume(*child);
  xcoro::xresume(*waiter);
  EXPECT_EQ(waiter->status(), status::done);
  EXPECT_EQ(got, 5);
}

TEST(Coro, NestedAwait) {
  auto outer = xcoro::xasync([] {
    auto inner = xcoro::xasync([](int a) { return a * 2; }, 21);
    return xcoro::xawait(*inner);
  });
  ASSERT_TRUE(outer);
  EXPECT_EQ(xcoro::xawait(*outer), 42);
}

// FP control state is per coroutine: a rounding mode set inside does not leak to root.
TEST(Coro, FpControlStateStaysPerCoroutine) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  int inside_after = -1;
  auto f = xcoro::xasync([&] {
    std::fesetround(FE_DOWNWARD);
    xcoro::xsuspend();
    inside_after = std::fegetround();
  });
  ASSERT_TRUE(f);
  EXPECT_EQ(std::fegetround(), FE_TONEAREST);
  volatile double a = 1.0, b = 3.0;
  EXPECT_EQ(a / b, 1.0 / 3.0);
  xcoro::xresume(*f);
  EXPECT_EQ(inside_after, FE_DOWNWARD);
  EXPECT_EQ(std::fegetround(), FE_TONEAREST);
}

#if defined(__x86_64__)
// On x86-64 both MXCSR (SSE) and the x87 control word travel with the coroutine.
TEST(Coro, MxcsrAndX87ControlWordStayPerCoroutine) {
  unsigned root_csr = _mm_getcsr();
  unsigned inside_csr = 0;
  auto f = xcoro::xasync([&] {
    std::fesetround(FE_UPWARD);  // sets both MXCSR.RC and the x87 CW.RC
    xcoro::xsuspend();
    inside_csr = _mm_getcsr();
  });
  ASSERT_TRUE(f);
  EXPECT_EQ(_mm_getcsr() & 0xffc0u, root_csr & 0xffc0u);
  std::uint16_t cw = 0;
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  EXPECT_EQ(cw & 0x0c00u, 0u);  // x87 round-to-nearest in root
  xcoro::xresume(*f);
  EXPECT_EQ(inside_csr & 0x6000u, 0x4000u);  // MXCSR RC = round up
}
#endif

// A coroutine may suspend inside a catch block: the caught exception stays its own.
TEST(Coro, SuspendInsideCatchKeepsExceptionState) {
  std::string rethrown;
  auto f = xcoro::xasync([&] {
    try {
      throw std::runtime_error("mine");
    } catch (const std::runtime_error&) {
      xcoro::xsuspend();
      EXPECT_NE(std::current_exception(), nullptr);
      try {
        throw;
      } catch (const std::runtime_error& e) {
        rethrown = e.what();
      }
    }
  });
  ASSERT_TRUE(f);
  EXPECT_EQ(std::current_exception(), nullptr);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
  // Root catching and finishing its own exception must not disturb the coroutine's.
  try {
    throw std::logic_error("root's");
  } catch (const std::logic_error&) {
    EXPECT_NE(std::current_exception(), nullptr);
  }
  xcoro::xresume(*f);
  EXPECT_EQ(rethrown, "mine");
  EXPECT_EQ(f->status(), status::done);
}

// std::uncaught_exceptions() is per coroutine: a destructor that suspends mid-unwind.
TEST(Coro, UncaughtExceptionsStayPerCoroutine) {
  int inside = -1;
  struct suspends_in_dtor {
    int* seen;
    ~suspends_in_dtor() {
      *seen = std::uncaught_exceptions();
      xcoro::xsuspend();
    }
  };
  bool caught = false;
  auto f = xcoro::xasync([&] {
    try {
      suspends_in_dtor d{&inside};
      throw 1;
    } catch (int) {
      caught = true;
    }
  });
  ASSERT_TRUE(f);
  EXPECT_EQ(inside, 1);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
  xcoro::xresume(*f);
  EXPECT_TRUE(caught);
  EXPECT_EQ(f->status(), status::done);
}

// Destroying a frame_t whose coroutine is suspended unwinds its stack.
TEST(Coro, DestroyingSuspendedFrameUnwinds) {
  int destroyed = 0;
  struct counter {
    int* n;
    ~counter() { ++*n; }
  };
  bool after_suspend = false;
  {
    auto f = xcoro::xasync([&] {
      counter a{&destroyed};
      try {
        counter b{&destroyed};
        xcoro::xsuspend();
      } catch (...) {
        EXPECT_EQ(destroyed, 1);
        throw;  // forced_unwind must not be swallowed
      }
      after_suspend = true;
    });
    ASSERT_TRUE(f);
    EXPECT_EQ(destroyed, 0);
  }
  EXPECT_EQ(destroyed, 2);
  EXPECT_FALSE(after_suspend);
}

TEST(Coro, ForcedUnwindNamesTheCoroutine) {
  xcoro::frame seen = nullptr;
  xcoro::frame self = nullptr;
  {
    auto f = xcoro::xasync([&] {
      self = xcoro::xframe();
      try {
        xcoro::xsuspend();
      } catch (const xcoro::forced_unwind& u) {
        seen = u.frame();
        throw;
      }
    });
    ASSERT_TRUE(f);
  }
  EXPECT_EQ(seen, self);
}

TEST(Coro, XsuspendSafeFromRoot) {
  XCORO_TEST_REQUIRES_ROOT();
  EXPECT_EQ(xcoro::xsuspend_safe(), xcoro::errc::suspend_from_main);
  auto f = xcoro::xasync([] { xcoro::xsuspend(); });
  ASSERT_TRUE(f);
  xcoro::xresume(*f);  // root has now been switched into: still an error, not UB
  EXPECT_EQ(xcoro::xsuspend_safe(), xcoro::errc::suspend_from_main);
  EXPECT_EQ(xcoro::remaining_stack_size(), 0u);
}

TEST(Coro, XsuspendSafeInsideCoroutine) {
  std::error_code first;
  auto f = xcoro::xasync([&] { first = xcoro::xsuspend_safe(); });
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status(), status::suspended);
  xcoro::xresume(*f);
  EXPECT_FALSE(first);
  EXPECT_EQ(f->status(), status::done);
}

TEST(Coro, XsuspendSafeReportsBrokenCanary) {
  alignas(16) static std::byte mem[2 * xcoro_test::small_stack];
  std::error_code ec;
  auto f = frame_t<void>::init(xcoro::stack_span(mem), [&] {
    mem[0] = std::byte{0xff};  // what a deep overflow does to the stack base
    ec = xcoro::xsuspend_safe();
    mem[0] = std::byte{0x6d};
  });
  ASSERT_TRUE(f);
  xcoro::xresume(*f);
  EXPECT_EQ(ec, xcoro::errc::stack_overflow);
  EXPECT_EQ(f->status(), status::done);
}

TEST(Coro, StackTooSmall) {
  alignas(16) static std::byte tiny[128];
  auto f = xcoro::xasync(xcoro::stack_span(tiny), [] {});
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), xcoro::errc::stack_too_small);
  // An owned stack that turns out too small is given back, not leaked.
  xcoro::env saved = xcoro::get_env();
  xcoro::get_env().stack_allocator = &xcoro::heap_stack_allocator();
  auto g = xcoro::xasync(std::size_t{64}, [] {});
  xcoro::init_env(saved);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error(), xcoro::errc::stack_too_small);
}

TEST(Coro, FourKilobyteStacksWork) {
  alignas(16) static std::byte mem[xcoro_test::small_stack];
  int sum = 0;
  auto f = xcoro::xasync(xcoro::stack_span(mem), [&](int n) {
    for (int i = 0; i < n; ++i) {
      sum += i;
      xcoro::xsuspend();
    }
  }, 10);
  ASSERT_TRUE(f);
  while (f->status() != status::done) {
    xcoro::xresume(*f);
  }
  EXPECT_EQ(sum, 45);
}

// 100,000 live coroutines on default (64 KiB, guard-paged, lazily committed) stacks
// (10,000 under ThreadSanitizer, whose per-fiber shadow stacks cost a mapping each).
TEST(Coro, HundredThousandCoroutines) {
  constexpr int n = xcoro_test::many_coroutines;
  std::vector<frame_t<int>> frames;
  frames.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto f = xcoro::xasync([](int v) {
      xcoro::xsuspend();
      return v;
    }, i);
    ASSERT_TRUE(f) << f.error().message();
    frames.push_back(std::move(*f));
  }
  for (auto& f : frames) {
    xcoro::xresume(f);
  }
  long long sum = 0;
  for (auto& f : frames) {
    sum += xcoro::xawait(f);
  }
  EXPECT_EQ(sum, static_cast<long long>(n) * (n - 1) / 2);
}

}  // namespace

namespace {

// clang keeps a base pointer in rbx in functions with over-aligned locals and a dynamic
// stack allocation; the switch must preserve it like any callee-saved register.
__attribute__((noinline)) int sum_across_switch(xcoro::frame f, int n) {
  alignas(64) volatile int aligned[16] = {};
  auto* dynamic = static_cast<volatile int*>(__builtin_alloca(sizeof(int) * n));
  for (int i = 0; i < n; ++i) {
    dynamic[i] = i;
    aligned[i % 16] = i;
  }
  xcoro::xresume(f);
  int sum = 0;
  for (int i = 0; i < n; ++i) {
    sum += dynamic[i];
  }
  return sum + aligned[0] * 0;
}

TEST(Coro, BasePointerSurvivesTheSwitch) {
  auto f = xcoro::xasync([] {
    for (;;) {
      // Dirty every register the other side might keep a base pointer in.
      volatile long junk[32];
      for (long& j : const_cast<long(&)[32]>(junk)) {
        j = -1;
      }
      xcoro::xsuspend();
    }
  });
  ASSERT_TRUE(f);
  for (int n = 1; n < 40; n += 7) {
    EXPECT_EQ(sum_across_switch(f->frame(), n), n * (n - 1) / 2);
  }
}

// Stacks freed after this thread's stack cache is gone (thread-local destructors that
// run later) go to the pool, never to the dead cache, and are not handed out twice.
TEST(Coro, CoroutinesInLateThreadLocalDestructors) {
#if defined(__MINGW32__)
  GTEST_SKIP() << "MinGW's emulated TLS hands a destroyed thread_local's memory to the next "
                  "one touched, so a thread_local destructor that uses any other (here xcoro's "
                  "thread state) reads its own members overwritten";
#endif
  bool distinct = false;
  std::thread t([&distinct] {
    struct late {
      bool* distinct;
      ~late() {
        auto a = xcoro::xasync([] { xcoro::xsuspend(); });
        auto b = xcoro::xasync([] { xcoro::xsuspend(); });
        *distinct = a && b && a->frame() != b->frame();
      }
    };
    thread_local late l{&distinct};  // constructed before the stack cache is first used
    (void)l;
    auto f = xcoro::xasync([] {});
  });
  t.join();
  EXPECT_TRUE(distinct);
}

}  // namespace

#if defined(_WIN32)
namespace {

/// The thread environment block fields the Windows switch carries per coroutine.
struct teb_stack {
  void* exception_list;
  void* fiber_data;
  void* deallocation;
  void* limit;
  void* base;
};

teb_stack read_teb() {
  // NtCurrentTeb() inlines to a %gs read that GCC's -Warray-bounds misjudges.
  char* teb = nullptr;
  __asm__ volatile("movq %%gs:0x30, %0" : "=r"(teb));
  auto* tib = reinterpret_cast<NT_TIB*>(teb);
  return teb_stack{tib->ExceptionList, tib->FiberData, *reinterpret_cast<void**>(teb + 0x1478),
                   tib->StackLimit, tib->StackBase};
}

/// A frame larger than a page: __chkstk probes it against the stack fields.
__attribute__((noinline)) int big_frame(int seed) {
  volatile char buf[3 * 4096];
  for (std::size_t i = 0; i < sizeof buf; i += 512) {
    buf[i] = static_cast<char>(seed + i);
  }
  return buf[sizeof buf - 512] + buf[0];
}

// The unwinder, __chkstk and guard-page handling read the running stack's bounds from the
// TEB: each coroutine must see its own stack there, and root its own again afterwards.
TEST(Coro, WindowsStackFieldsFollowTheCoroutine) {
  teb_stack root_before = read_teb();
  teb_stack inside{}, inside_after_switch{};
  std::uintptr_t local_addr = 0;
  auto f = xcoro::xasync([&] {
    int local = 0;
    local_addr = reinterpret_cast<std::uintptr_t>(&local);
    inside = read_teb();
    xcoro::xsuspend();
    inside_after_switch = read_teb();
    try {
      throw std::runtime_error("across a big frame " + std::to_string(big_frame(1)));
    } catch (const std::runtime_error&) {
    }
  });
  ASSERT_TRUE(f);
  teb_stack root_between = read_teb();
  xcoro::xresume(*f);
  teb_stack root_after = read_teb();

  auto lo = reinterpret_cast<std::uintptr_t>(inside.limit);
  auto hi = reinterpret_cast<std::uintptr_t>(inside.base);
  EXPECT_LT(lo, local_addr);
  EXPECT_LT(local_addr, hi);
  EXPECT_EQ(inside.deallocation, inside.limit);
  EXPECT_EQ(inside.fiber_data, nullptr);
  EXPECT_EQ(inside.exception_list, reinterpret_cast<void*>(~std::uintptr_t{0}));
  EXPECT_EQ(inside_after_switch.base, inside.base);
  EXPECT_EQ(inside_after_switch.limit, inside.limit);
  for (const teb_stack& r : {root_between, root_after}) {
    EXPECT_EQ(r.base, root_before.base);
    EXPECT_EQ(r.limit, root_before.limit);
    EXPECT_EQ(r.deallocation, root_before.deallocation);
    EXPECT_EQ(r.fiber_data, root_before.fiber_data);
    EXPECT_EQ(r.exception_list, root_before.exception_list);
  }
  EXPECT_EQ(f->status(), xcoro::status::done);
}

}  // namespace
#endif  // _WIN32
