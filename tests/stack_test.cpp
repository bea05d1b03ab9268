// Tests of the stack allocators, the environment's stack choice and stack accounting.
#if defined(__linux__)
#include <unistd.h>

#include <cerrno>
#endif

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_stacks.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/stack.hpp"

namespace {

// Mappings and resident memory are read from Linux's /proc; the tests that need them skip
// elsewhere.
#if defined(__linux__)
constexpr bool have_proc = true;
#else
constexpr bool have_proc = false;
#endif

std::size_t count_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    ++n;
  }
  return n;
}

/// Counts what passes through, to check who frees owned stacks.
class counting_allocator final : public xcoro::stack_allocator {
 public:
  xcoro::result<xcoro::stack_span> allocate(std::size_t size) override {
    ++allocated;
    return xcoro::heap_stack_allocator().allocate(size);
  }
  void deallocate(xcoro::stack_span s) noexcept override {
    ++freed;
    xcoro::heap_stack_allocator().deallocate(s);
  }
  int allocated = 0;
  int freed = 0;
};

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
#if defined(__linux__)
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
#else
  return resident * 4096;
#endif
}

class env_guard {
 public:
  env_guard() : saved_(xcoro::get_env()) {}
  ~env_guard() { xcoro::init_env(saved_); }

 private:
  xcoro::env saved_;
};

TEST(Stack, DefaultAllocatorAlignmentAndReuse) {
  auto& a = xcoro::default_stack_allocator();
  auto s = xcoro::stack_alloc(a);
  ASSERT_TRUE(s);
  EXPECT_GE(s->size(), xcoro::default_stack_size);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s->data()) % xcoro::stack_alignment, 0u);
  s->data()[0] = std::byte{1};
  s->data()[s->size() - 1] = std::byte{2};
  std::byte* first = s->data();
  a.deallocate(*s);
  auto again = a.allocate(xcoro::default_stack_size);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->data(), first);  // pooled
  a.deallocate(*again);
}

TEST(Stack, GuardPageBelowDefaultStacks) {
  auto s = xcoro::default_stack_allocator().allocate(16384);
  ASSERT_TRUE(s);
  // The page below the stack must not be accessible: mincore/mprotect can't tell
  // MADV_GUARD_INSTALL regions apart, so probe it in a child process.
  std::byte* below = s->data() - 1;
  EXPECT_DEATH(*reinterpret_cast<volatile std::byte*>(below) = std::byte{1}, "");
  xcoro::default_stack_allocator().deallocate(*s);
}

#if defined(__linux__)
/// Whether reading `p` faults, asked without a signal: write(2) from it fails with EFAULT.
bool unreadable(const std::byte* p) {
  int fds[2];
  if (pipe(fds) != 0) {
    return false;
  }
  bool faulted = ::write(fds[1], p, 1) < 0 && errno == EFAULT;
  ::close(fds[0]);
  ::close(fds[1]);
  return faulted;
}
#endif

// Freed stacks beyond the pool's hot set have their pages discarded in batches, one call
// for a run of neighbours that also covers the guard pages between them: every guard must
// still fault afterwards, and the stacks must read as fresh memory, writable again.
TEST(Stack, DiscardedStacksKeepTheirGuards) {
#if !defined(__linux__)
  GTEST_SKIP() << "probes pages with write(2) and EFAULT (Linux)";
#else
  if (xcoro_test::emulated) {
    GTEST_SKIP() << "qemu-user may fall back to canaries, leaving no guard to probe";
  }
  auto& a = xcoro::default_stack_allocator();
  constexpr std::size_t size = 16384;
  std::vector<xcoro::stack_span> stacks;
  std::set<std::byte*> guarded;  // stacks whose guard faults before the pool discards them
  for (int i = 0; i < 2000; ++i) {
    auto s = a.allocate(size);
    ASSERT_TRUE(s);
    s->data()[0] = std::byte{0x5a};
    s->data()[s->size() - 1] = std::byte{0x5a};
    if (unreadable(s->data() - 1)) {
      guarded.insert(s->data());
    }
    stacks.push_back(*s);
  }
  // On this kernel the default stacks have guards (MADV_GUARD_INSTALL or mprotect within
  // its budget); a pool that runs out of mprotect budget hands out unguarded ones.
  ASSERT_GT(guarded.size(), 0u);
  for (auto s : stacks) {
    a.deallocate(s);
  }
  std::set<std::byte*> seen;
  std::vector<xcoro::stack_span> again;
  for (int i = 0; i < 2000; ++i) {
    auto s = a.allocate(size);
    ASSERT_TRUE(s);
    EXPECT_TRUE(seen.insert(s->data()).second) << "handed out twice";
    if (guarded.count(s->data()) != 0) {
      EXPECT_TRUE(unreadable(s->data() - 1)) << "stack " << i << " lost its guard";
    }
    s->data()[0] = std::byte{1};
    again.push_back(*s);
  }
  for (auto s : again) {
    a.deallocate(s);
  }
#endif
}

TEST(Stack, HeapAllocator) {
  auto s = xcoro::stack_alloc(xcoro::heap_stack_allocator(), 10000);
  ASSERT_TRUE(s);
  EXPECT_GE(s->size(), 10000u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s->data()) % xcoro::stack_alignment, 0u);
  xcoro::heap_stack_allocator().deallocate(*s);
  EXPECT_EQ(xcoro::heap_stack_allocator().allocate(0).error(), xcoro::errc::stack_too_small);
}

TEST(Stack, EnvChoosesAllocatorAndSize) {
  env_guard restore;
  counting_allocator counting;
  xcoro::init_env({.stack_allocator = &counting, .default_stack_size = 32 * 1024});
  std::size_t remaining = 0;
  {
    auto f = xcoro::xasync([&] { remaining = xcoro::remaining_stack_size(); });
    ASSERT_TRUE(f);
    EXPECT_EQ(counting.allocated, 1);
  }
  EXPECT_EQ(counting.freed, 1);
  EXPECT_GT(remaining, 24u * 1024);
  EXPECT_LT(remaining, 32u * 1024);
}

// zigcoro frees with the env allocator current at deinit time; xcoro frees with the one
// that allocated.
TEST(Stack, OwnedStackFreedByItsOwnAllocator) {
  env_guard restore;
  counting_allocator first, second;
  xcoro::get_env().stack_allocator = &first;
  auto f = xcoro::xasync([] { xcoro::xsuspend(); });
  ASSERT_TRUE(f);
  xcoro::get_env().stack_allocator = &second;
  *f = xcoro::frame_t<void>();
  EXPECT_EQ(first.freed, 1);
  EXPECT_EQ(second.freed, 0);
}

TEST(Stack, ExplicitSizeAndCallerStack) {
  std::size_t remaining = 0;
  auto f = xcoro::xasync(std::size_t{256 * 1024}, [&] { remaining = xcoro::remaining_stack_size(); });
  ASSERT_TRUE(f);
  EXPECT_GT(remaining, 200u * 1024);

  counting_allocator never;
  env_guard restore;
  xcoro::get_env().stack_allocator = &never;
  alignas(16) static std::byte mem[16384];
  {
    auto g = xcoro::xasync(xcoro::stack_span(mem), [&] { remaining = xcoro::remaining_stack_size(); });
    ASSERT_TRUE(g);
  }
  EXPECT_EQ(never.allocated + never.freed, 0);  // caller-owned: never touched
  EXPECT_GT(remaining, 12u * 1024);
  EXPECT_LT(remaining, 16u * 1024);
}

__attribute__((noinline)) std::size_t remaining_below_buffer(std::size_t i) {
  volatile char buf[2048];
  for (std::size_t k = 0; k < sizeof buf; ++k) {
    buf[k] = static_cast<char>(k);
  }
  // Read the buffer after the call, so that the call is not a tail call.
  std::size_t r = xcoro::remaining_stack_size();
  return r + static_cast<std::size_t>(buf[i % 2 + 1]) - (i % 2 + 1);
}

TEST(Stack, RemainingShrinksWithDepth) {
  std::size_t outer = 0, inner = 0;
  auto f = xcoro::xasync([&] {
    outer = xcoro::remaining_stack_size();
    inner = remaining_below_buffer(outer);
  });
  ASSERT_TRUE(f);
  EXPECT_GT(outer, inner + 2000);
}

// A hundred thousand guarded stacks must not cost a mapping each (vm.max_map_count is
// 65530 by default), or a million live coroutines would be impossible.
TEST(Stack, ManyStacksFewMappings) {
  if (!have_proc) {
    GTEST_SKIP() << "counts Linux mappings (/proc/self/maps, vm.max_map_count)";
  }
  if (xcoro_test::emulated) {
    GTEST_SKIP() << "qemu-user ignores MADV_GUARD_INSTALL, so guards fall back to mprotect";
  }
  std::size_t before = count_mappings();
  std::vector<xcoro::stack_span> stacks;
  for (int i = 0; i < 100000; ++i) {
    auto s = xcoro::default_stack_allocator().allocate(xcoro::default_stack_size);
    ASSERT_TRUE(s);
    stacks.push_back(*s);
  }
  std::size_t after = count_mappings();
  EXPECT_LT(after - before, 20000u);
  for (auto s : stacks) {
    xcoro::default_stack_allocator().deallocate(s);
  }
}

}  // namespace

// A coroutine that only suspends costs about one page of RSS on a default 64 KiB stack:
// the guard page replaces the canary, which would commit the stack's lowest page too.
TEST(Stack, SuspendedCoroutineCostsAboutOnePage) {
  if (!have_proc) {
    GTEST_SKIP() << "reads resident memory from Linux's /proc/self/statm";
  }
  if (xcoro_test::sanitized || xcoro_test::emulated) {
    GTEST_SKIP() << "sanitizers and qemu-user change the footprint (and qemu the guards)";
  }
  constexpr int n = 20000;
  std::vector<xcoro::frame_t<void>> frames;
  frames.reserve(n);
  std::size_t before = resident_bytes();
  for (int i = 0; i < n; ++i) {
    auto f = xcoro::xasync([] { xcoro::xsuspend(); });
    ASSERT_TRUE(f);
    frames.push_back(std::move(*f));
  }
  std::size_t per_coroutine = (resident_bytes() - before) / n;
  EXPECT_LT(per_coroutine, 6144u);
}
