// A new coroutine's first context: the first switch into it lands in the arch's
// xcoro_entry_stub (src/arch/*.S), where the stub finds the record and the C++ entry
// function just below the top of the stack, with a zero frame pointer (and on Windows a
// zero return address) so that unwinders stop there. Windows adds the thread information
// block's fields, which its switch pops before jumping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "xcoro/detail/coro_record.hpp"
#include "xcoro/detail/switch.hpp"

extern "C" void xcoro_entry_stub();

namespace xcoro::detail::arch {

/// Points `c`'s saved context at the entry stub with stack pointer `sp`, a zero frame
/// pointer, and the creator's FP control state.
inline void start_in_entry_stub(coro* c, std::byte* sp) noexcept {
  using a = coro_access;
  a::sp(c) = sp;
  a::pc(c) = reinterpret_cast<void*>(&xcoro_entry_stub);
  a::fp(c) = nullptr;
  a::bx(c) = nullptr;
  a::fp_control(c) = read_fp_control();
  a::fp_control2(c) = read_fp_control2();
}

#if defined(_WIN32)

/// Room the first context needs below the top of the stack: a zero return address, the
/// entry stub's 56-byte frame (record, entry function, shadow space) and, below it, the
/// thread environment block's fields that the switch pops (see the .S file).
inline constexpr std::size_t first_frame_size = 8 + 56 + 48;

/// Prepares `c` to start in the entry stub, which calls fn(c). `top` is 16-byte aligned.
/// The coroutine's TEB fields describe its whole stack, [stack_lo, stack_lo + stack_size):
/// the range the system's unwinder accepts frames in. Its x86 handler chain starts empty
/// (~0, as for a new thread), FiberData null (a coroutine is not a Windows fiber) and
/// GuaranteedStackBytes zero. The FP control state is inherited from the creator.
inline void init_context(coro* c, std::byte* top, void (*fn)(void*)) noexcept {
  using a = coro_access;
  auto word = [](std::byte* at, std::uintptr_t v) { std::memcpy(at, &v, sizeof v); };
  auto lo = reinterpret_cast<std::uintptr_t>(a::stack_lo(c));
  word(top - 8, 0);                                         // the stub's return address
  word(top - 64, reinterpret_cast<std::uintptr_t>(c));      // stub: the record
  word(top - 56, reinterpret_cast<std::uintptr_t>(fn));     // stub: the entry function
  std::byte* sp = top - first_frame_size;
  word(sp + 0, ~std::uintptr_t{0});                         // ExceptionList: empty
  word(sp + 8, 0);                                          // FiberData
  word(sp + 16, lo);                                        // DeallocationStack
  word(sp + 24, lo);                                        // StackLimit
  word(sp + 32, lo + a::stack_size(c));                     // StackBase
  word(sp + 40, 0);                                         // GuaranteedStackBytes
  start_in_entry_stub(c, sp);
}

#else

/// Room the first context needs below the top of the stack: the entry stub's two words.
inline constexpr std::size_t first_frame_size = 16;

/// Prepares `c` to start in the entry stub, which calls fn(c). `top` is 16-byte aligned.
/// The FP control state is inherited from the creating coroutine.
inline void init_context(coro* c, std::byte* top, void (*fn)(void*)) noexcept {
  std::byte* sp = top - first_frame_size;
  auto self = reinterpret_cast<std::uintptr_t>(c);
  auto entry = reinterpret_cast<std::uintptr_t>(fn);
  std::memcpy(sp, &self, sizeof self);
  std::memcpy(sp + 8, &entry, sizeof entry);
  start_in_entry_stub(c, sp);
}

#endif

}  // namespace xcoro::detail::arch
