// Stack memory on Windows: slabs reserved and committed with VirtualAlloc (the system
// hands out zero pages only when they are first touched), a no-access page below each
// stack, and a guard page a little above its bottom.
//
// The guard page (PAGE_GUARD) is what makes an overflow reportable. The coroutine's thread
// information block says its stack starts at the bottom of its span (src/arch/context.hpp),
// so when the coroutine first touches the guard page, which lies within the last
// `reserve_pages` pages of that stack, the system raises EXCEPTION_STACK_OVERFLOW instead
// of growing the stack, and dispatches it on the pages still below: room for
// src/stack_guard_windows.cpp to name the coroutine. The no-access page catches frames
// that jump past the guard page without touching it (__chkstk probes every page of a
// large frame, so code built by MinGW or MSVC does not).
#include <windows.h>

#include "stack_memory.hpp"

namespace xcoro::detail::stack_memory {
namespace {

/// Pages of a stack below its guard page, left for reporting an overflow.
constexpr std::size_t reserve_pages = 2;

std::size_t system_page() noexcept {
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  return info.dwPageSize != 0 ? info.dwPageSize : 4096;
}

bool guards_failed = false;  // written under the pool's lock (stack.cpp)

}  // namespace

std::size_t page_size() noexcept {
  static const std::size_t page = system_page();
  return page;
}

std::byte* map(std::size_t bytes, std::error_code& ec) noexcept {
  void* mem = VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (mem == nullptr) {
    ec = std::error_code(static_cast<int>(GetLastError()), std::system_category());
    return nullptr;
  }
  return static_cast<std::byte*>(mem);
}

void install_guard(std::byte* guard, std::size_t usable) noexcept {
  const std::size_t page = page_size();
  DWORD old = 0;
  if (VirtualProtect(guard, page, PAGE_NOACCESS, &old) == 0) {
    guards_failed = true;
    return;
  }
  // Small stacks get only the no-access page: the reserve would take most of them.
  if (usable >= 4 * (reserve_pages + 1) * page) {
    std::byte* soft = guard + page + reserve_pages * page;
    if (VirtualProtect(soft, page, PAGE_READWRITE | PAGE_GUARD, &old) == 0) {
      guards_failed = true;
    }
  }
}

bool all_guarded() noexcept {
  return !guards_failed;
}

void discard(std::byte* p, std::size_t bytes) noexcept {
  // The contents may be dropped; the pages stay committed and keep their protection.
  VirtualAlloc(p, bytes, MEM_RESET, PAGE_READWRITE);
}

}  // namespace xcoro::detail::stack_memory
