// The operating system's side of the pooled stack allocator (src/stack.cpp): slabs of
// lazily committed memory, guard pages, and giving pages back. One implementation per
// system: src/stack_memory_posix.cpp (mmap, madvise) and src/stack_memory_windows.cpp
// (VirtualAlloc).
#pragma once

#include <cstddef>
#include <system_error>

namespace xcoro::detail::stack_memory {

/// The size of a page; stacks and guards are whole pages.
std::size_t page_size() noexcept;

/// Maps `bytes` of read-write memory whose pages are committed when first touched.
/// Returns nullptr and sets `ec` on failure.
std::byte* map(std::size_t bytes, std::error_code& ec) noexcept;

/// Makes the page at `guard` fault on any access, if the system allows one more guard.
/// Called once for every stack carved out of a slab, with the page just below it and the
/// stack's size above it.
void install_guard(std::byte* guard, std::size_t usable) noexcept;

/// True while every guard asked for went in (a fallback may run out of its budget).
bool all_guarded() noexcept;

/// Gives the pages of [p, p + bytes) back to the system. The memory stays mapped, reads
/// as anything afterwards, and guard pages outside the range are untouched.
void discard(std::byte* p, std::size_t bytes) noexcept;

/// Whether discard() may cover guard pages too and leave them guards: then neighbouring
/// stacks are discarded in one call. (Linux: guard markers and PROT_NONE pages both
/// survive MADV_DONTNEED. Windows: one range per stack.)
#if defined(_WIN32)
inline constexpr bool discard_keeps_guards = false;
#else
inline constexpr bool discard_keeps_guards = true;
#endif

}  // namespace xcoro::detail::stack_memory
