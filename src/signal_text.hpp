// Text for lines written from signal handlers (the stack-overflow report, the stall report):
// appended into a caller's buffer without allocating, locking or calling snprintf, so that
// it is async-signal-safe. The names of coroutines match describe() in src/coro.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xcoro {
class coro;
}

namespace xcoro::detail::signal_text {

/// Appends `len` bytes of `s` to `out` at `at`, keeping the total below `cap` (room for a
/// terminator the caller may add); returns the new length.
std::size_t append(char* out, std::size_t at, std::size_t cap, const char* s,
                   std::size_t len) noexcept;
/// Appends the NUL-terminated `s`.
std::size_t append(char* out, std::size_t at, std::size_t cap, const char* s) noexcept;
/// Appends `v` in decimal.
std::size_t append_u64(char* out, std::size_t at, std::size_t cap, std::uint64_t v) noexcept;
/// Appends "coroutine 'name' (id N)", "coroutine (id N)" or "root coroutine (id 0)".
std::size_t append_coroutine(char* out, std::size_t at, std::size_t cap, const coro* c) noexcept;

}  // namespace xcoro::detail::signal_text
