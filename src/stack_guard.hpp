// Stack-overflow reporting: a handler that names the coroutine whose guard page was hit
// and passes every other fault on. POSIX: a SIGSEGV handler on an alternate signal stack
// (src/stack_guard_posix.cpp); Windows: a vectored exception handler
// (src/stack_guard_windows.cpp).
#pragma once

#include <cstddef>

namespace xcoro {
class coro;
}

namespace xcoro::detail::stack_guard {

/// Installs the process-wide handler (once) and, on POSIX, gives the calling thread an
/// alternate signal stack if it has none. Called when a thread creates its first coroutine.
void thread_init() noexcept;

/// Writes "xcoro: stack overflow in coroutine '<name>' (id N)\n" into `out` (at most
/// `cap` - 1 bytes) and returns its length. Async-signal-safe.
std::size_t format_overflow(coro* c, char* out, std::size_t cap) noexcept;

}  // namespace xcoro::detail::stack_guard
