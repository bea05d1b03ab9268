// What every system's overflow handler says: the one line naming the coroutine, formatted
// without allocating or locking, since it runs on a fault (src/stack_guard_posix.cpp,
// src/stack_guard_windows.cpp).
#include "stack_guard.hpp"

#include <cstdint>

#include "xcoro/coro.hpp"

namespace xcoro::detail::stack_guard {
namespace {

std::size_t append(char* out, std::size_t at, std::size_t cap, const char* s) noexcept {
  while (*s != '\0' && at + 1 < cap) {
    out[at++] = *s++;
  }
  return at;
}

std::size_t append_u64(char* out, std::size_t at, std::size_t cap, std::uint64_t v) noexcept {
  char digits[21];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && at + 1 < cap) {
    out[at++] = digits[--n];
  }
  return at;
}

}  // namespace

std::size_t format_overflow(coro* c, char* out, std::size_t cap) noexcept {
  std::size_t n = append(out, 0, cap, "xcoro: stack overflow in coroutine ");
  if (!c->name().empty()) {
    n = append(out, n, cap, "'");
    n = append(out, n, cap, c->name().data());
    n = append(out, n, cap, "' ");
  }
  n = append(out, n, cap, "(id ");
  n = append_u64(out, n, cap, c->id());
  n = append(out, n, cap, ")\n");
  return n;
}

}  // namespace xcoro::detail::stack_guard
