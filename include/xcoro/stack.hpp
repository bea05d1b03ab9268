// Coroutine stacks: the allocator interface, the two allocators xcoro ships, and helpers.
#pragma once

#include <cstddef>
#include <span>

#include "xcoro/config.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"

namespace xcoro {

/// Every coroutine stack is aligned to this many bytes, on every architecture.
inline constexpr std::size_t stack_alignment = 16;

/// The stack size used when none is given (CMake option XCORO_DEFAULT_STACK_SIZE,
/// 64 KiB by default). From `default_stack_allocator()` it is virtual memory: only the
/// pages a coroutine touches cost RSS.
inline constexpr std::size_t default_stack_size = XCORO_DEFAULT_STACK_SIZE;

/// A coroutine stack: caller memory, `stack_alignment`-aligned (zigcoro StackT).
using stack_span = std::span<std::byte>;

/// Where coroutine stacks come from (zigcoro: an std.mem.Allocator for stacks).
/// Implementations must be usable from any thread.
class stack_allocator {
 public:
  virtual ~stack_allocator() = default;
  /// Returns a stack of at least `size` bytes, aligned to `stack_alignment`, or an error
  /// (`std::errc::not_enough_memory`, or the errno of a failed mmap).
  virtual result<stack_span> allocate(std::size_t size) = 0;
  /// Gives back a stack that `allocate` returned, exactly as returned.
  virtual void deallocate(stack_span) noexcept = 0;
};

/// Stacks from aligned `operator new`: no guard page, no pooling. Thread-safe.
XCORO_EXPORT stack_allocator& heap_stack_allocator() noexcept;

/// Stacks from lazily committed `mmap` memory, each with a guard page below it, pooled
/// for reuse. Overflow into the guard page aborts with "xcoro: stack overflow in coroutine
/// <name> (id N)". Stacks are carved from slabs so that a million live stacks stay within
/// the kernel's default `vm.max_map_count`; see docs/design.md for the guard-page
/// trade-off. Thread-safe.
XCORO_EXPORT stack_allocator& default_stack_allocator() noexcept;

/// Allocates a stack of `size` bytes from `alloc` (zigcoro stackAlloc). The caller owns it
/// and gives it back with `alloc.deallocate(stack)`.
XCORO_EXPORT result<stack_span> stack_alloc(stack_allocator& alloc,
                                            std::size_t size = default_stack_size);

/// Bytes left on the running coroutine's stack below the caller's frame; 0 in root.
XCORO_EXPORT std::size_t remaining_stack_size() noexcept;

}  // namespace xcoro
