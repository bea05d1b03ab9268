// Async-signal-safe text for the lines signal handlers write (src/signal_text.hpp).
#include "signal_text.hpp"

#include <string_view>

#include "xcoro/coro.hpp"

namespace xcoro::detail::signal_text {

std::size_t append(char* out, std::size_t at, std::size_t cap, const char* s,
                   std::size_t len) noexcept {
  for (std::size_t i = 0; i < len && at + 1 < cap; ++i) {
    out[at++] = s[i];
  }
  return at;
}

std::size_t append(char* out, std::size_t at, std::size_t cap, const char* s) noexcept {
  std::size_t len = 0;
  while (s[len] != '\0') {
    ++len;
  }
  return append(out, at, cap, s, len);
}

std::size_t append_u64(char* out, std::size_t at, std::size_t cap, std::uint64_t v) noexcept {
  char digits[21];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && at + 1 < cap) {
    out[at++] = digits[--n];
  }
  return at;
}

std::size_t append_coroutine(char* out, std::size_t at, std::size_t cap,
                             const coro* c) noexcept {
  if (c->id() == 0) {
    return append(out, at, cap, "root coroutine (id 0)");
  }
  at = append(out, at, cap, "coroutine ");
  std::string_view name = c->name();
  if (!name.empty()) {
    at = append(out, at, cap, "'");
    at = append(out, at, cap, name.data(), name.size());
    at = append(out, at, cap, "' ");
  }
  at = append(out, at, cap, "(id ");
  at = append_u64(out, at, cap, c->id());
  return append(out, at, cap, ")");
}

}  // namespace xcoro::detail::signal_text
