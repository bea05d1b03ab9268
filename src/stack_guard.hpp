// Stack-overflow reporting: a SIGSEGV handler on an alternate signal stack that names the
// coroutine whose guard page was hit, and chains to any previous handler otherwise.
#pragma once

namespace xcoro::detail::stack_guard {

/// Installs the process-wide handler (once) and gives the calling thread an alternate
/// signal stack if it has none. Called when a thread creates its first coroutine.
void thread_init() noexcept;

}  // namespace xcoro::detail::stack_guard
