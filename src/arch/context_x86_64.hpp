// x86-64 System V: the first context of a new coroutine, so that the first switch into it
// lands in xcoro_entry_stub (src/arch/switch_x86_64_sysv_elf_gas.S). The same for both
// shapes of the switch, since both keep the context in the record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "xcoro/detail/coro_record.hpp"

extern "C" void xcoro_entry_stub();

namespace xcoro::detail::arch {

/// Room the first context needs below the top of the stack: the entry stub's two words.
inline constexpr std::size_t first_frame_size = 16;

/// Prepares `c` to start at the entry stub with rsp = top - 16 (16-byte aligned) and
/// rbp = 0; the stub finds `c` and `fn` there and calls fn(c). The FP control words are
/// inherited from the creating coroutine.
inline void init_context(coro* c, std::byte* top, void (*fn)(void*)) noexcept {
  using a = coro_access;
  std::byte* sp = top - first_frame_size;
  auto self = reinterpret_cast<std::uintptr_t>(c);
  auto entry = reinterpret_cast<std::uintptr_t>(fn);
  std::memcpy(sp, &self, sizeof self);
  std::memcpy(sp + 8, &entry, sizeof entry);
  std::uint32_t mxcsr = 0;
  std::uint16_t fpcw = 0;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fpcw));
  a::sp(c) = sp;
  a::pc(c) = reinterpret_cast<void*>(&xcoro_entry_stub);
  a::fp(c) = nullptr;
  a::bx(c) = nullptr;
  a::fp_control(c) = mxcsr;
  a::fp_control2(c) = fpcw;
}

}  // namespace xcoro::detail::arch
