// Stack memory on Linux and other POSIX systems: MAP_NORESERVE slabs, so memory is
// committed only for pages a coroutine touches, and a guard page below each stack.
//
// The guard is installed with MADV_GUARD_INSTALL (Linux 6.13+), which marks page-table
// entries and does not split the mapping: a million guarded stacks cost a few thousand
// VMAs, far below the default vm.max_map_count of 65530. On older kernels the guard falls
// back to mprotect(PROT_NONE), which splits the slab into two VMAs per stack; past a budget
// of a quarter of vm.max_map_count, further stacks get no guard page and rely on the
// canary check at suspend points. docs/design.md discusses the trade-off.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>

#include "stack_memory.hpp"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace xcoro::detail::stack_memory {
namespace {

enum class guard_mode { madvise, mprotect };

struct guard_state {
  guard_state() noexcept {
    long p = sysconf(_SC_PAGESIZE);
    page = p > 0 ? static_cast<std::size_t>(p) : 4096;
    std::size_t max_maps = 65530;
    if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
      unsigned long v = 0;
      if (std::fscanf(f, "%lu", &v) == 1 && v > 0) {
        max_maps = v;
      }
      std::fclose(f);
    }
    mprotect_budget = max_maps / 4;
  }

  std::size_t page = 4096;
  std::atomic<guard_mode> mode{guard_mode::madvise};
  std::mutex mu;                 // guards the fields below
  bool checked = false;          // a MADV_GUARD_INSTALL guard was seen to fault
  std::size_t mprotect_guards = 0;
  std::size_t mprotect_budget = 0;
};

guard_state& state() noexcept {
  // Never destroyed: stacks are freed at thread exit, after static destructors may have run.
  static guard_state* s = new guard_state();
  return *s;
}

/// Whether the guard just installed at `guard` really faults. An emulator (qemu-user)
/// may accept MADV_GUARD_INSTALL as a no-op hint; then the page stays readable. The
/// kernel answers a write(2) from an unreadable page with EFAULT, without a signal.
bool guard_works(std::byte* guard) noexcept {
  int fds[2];
  if (pipe(fds) != 0) {
    return false;
  }
  ssize_t n = ::write(fds[1], guard, 1);
  bool faulted = n < 0 && errno == EFAULT;
  ::close(fds[0]);
  ::close(fds[1]);
  return faulted;
}

}  // namespace

std::size_t page_size() noexcept {
  return state().page;
}

std::byte* map(std::size_t bytes, std::error_code& ec) noexcept {
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) {
    ec = std::error_code(errno, std::system_category());
    return nullptr;
  }
  return static_cast<std::byte*>(mem);
}

void install_guard(std::byte* guard, std::size_t /*usable*/) noexcept {
  guard_state& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.mode.load(std::memory_order_relaxed) == guard_mode::madvise) {
    if (madvise(guard, s.page, MADV_GUARD_INSTALL) == 0 && (s.checked || guard_works(guard))) {
      s.checked = true;
      return;
    }
    s.mode.store(guard_mode::mprotect, std::memory_order_relaxed);
  }
  if (s.mprotect_guards < s.mprotect_budget && mprotect(guard, s.page, PROT_NONE) == 0) {
    ++s.mprotect_guards;
  }
}

bool all_guarded() noexcept {
  return state().mode.load(std::memory_order_relaxed) == guard_mode::madvise;
}

void discard(std::byte* p, std::size_t bytes) noexcept {
  madvise(p, bytes, MADV_DONTNEED);
}

}  // namespace xcoro::detail::stack_memory
