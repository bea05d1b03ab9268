// A new coroutine's first context, the same on every architecture: the first switch into
// it lands in the arch's xcoro_entry_stub (src/arch/*.S) with the stack pointer at
// top - 16, where the stub finds the record and the C++ entry function, and with a zero
// frame pointer so that unwinders stop there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "xcoro/detail/coro_record.hpp"
#include "xcoro/detail/switch.hpp"

extern "C" void xcoro_entry_stub();

namespace xcoro::detail::arch {

/// Room the first context needs below the top of the stack: the entry stub's two words.
inline constexpr std::size_t first_frame_size = 16;

/// Prepares `c` to start in the entry stub, which calls fn(c). `top` is 16-byte aligned.
/// The FP control state is inherited from the creating coroutine.
inline void init_context(coro* c, std::byte* top, void (*fn)(void*)) noexcept {
  using a = coro_access;
  std::byte* sp = top - first_frame_size;
  auto self = reinterpret_cast<std::uintptr_t>(c);
  auto entry = reinterpret_cast<std::uintptr_t>(fn);
  std::memcpy(sp, &self, sizeof self);
  std::memcpy(sp + 8, &entry, sizeof entry);
  a::sp(c) = sp;
  a::pc(c) = reinterpret_cast<void*>(&xcoro_entry_stub);
  a::fp(c) = nullptr;
  a::bx(c) = nullptr;
  a::fp_control(c) = read_fp_control();
  a::fp_control2(c) = read_fp_control2();
}

}  // namespace xcoro::detail::arch
