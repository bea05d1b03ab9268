// The x86-64 FP control words (MXCSR, x87 control word) a new coroutine inherits from its
// creator; the same on System V and Win64, where both are callee-saved.
#pragma once

#include <cstdint>

namespace xcoro::detail::arch {

inline std::uint32_t read_fp_control() noexcept {
  std::uint32_t mxcsr = 0;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  return mxcsr;
}
inline std::uint16_t read_fp_control2() noexcept {
  std::uint16_t fpcw = 0;
  __asm__ volatile("fnstcw %0" : "=m"(fpcw));
  return fpcw;
}

}  // namespace xcoro::detail::arch
