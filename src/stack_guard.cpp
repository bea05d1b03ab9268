// What every system's overflow handler says: the one line naming the coroutine, formatted
// without allocating or locking, since it runs on a fault (src/stack_guard_posix.cpp,
// src/stack_guard_windows.cpp).
#include "stack_guard.hpp"

#include "signal_text.hpp"

namespace xcoro::detail::stack_guard {

std::size_t format_overflow(coro* c, char* out, std::size_t cap) noexcept {
  using signal_text::append;
  std::size_t n = append(out, 0, cap, "xcoro: stack overflow in ");
  n = signal_text::append_coroutine(out, n, cap, c);
  return append(out, n, cap, "\n");
}

}  // namespace xcoro::detail::stack_guard
