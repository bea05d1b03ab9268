// What the library knows about the default stack allocator beyond its public interface.
#pragma once

namespace xcoro::detail {

/// True if every stack of default_stack_allocator() has a guard page below it. Such
/// stacks need no canary: the canary would also commit their lowest page, doubling the RSS
/// of a coroutine that only suspends.
bool default_stacks_guarded() noexcept;

}  // namespace xcoro::detail
