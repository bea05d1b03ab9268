// The riscv64 (LP64D) stack switch, inlined at each xresume/xsuspend site: the compiler
// saves the callee-saved registers it has live (s2-s11, fs0-fs11) around it, given the
// clobber list; the switch itself saves what the compiler may not be told is clobbered:
//
//   record + 0   saved sp
//   record + 8   resume address
//   record + 16  saved s0 (frame pointer)
//   record + 24  saved s1 (LLVM's base pointer in functions with over-aligned locals and
//                variable-sized objects)
//   record + 32  fcsr (4 bytes; restored only when it differs)
//
// The D extension is required (LP64D), as for zigcoro.
#pragma once

#include "xcoro/detail/coro_record.hpp"

namespace xcoro::detail::arch {

static_assert(context_offsets::sp == 0 && context_offsets::pc == 8 && context_offsets::fp == 16 &&
                  context_offsets::bx == 24 && context_offsets::fp_control == 32,
              "the switch below hard-codes these offsets");

/// Saves the running context into `from`, continues `to`. Returns when something switches
/// back into `from`.
inline void switch_context(coro* from, coro* to) noexcept {
  register coro* f __asm__("a0") = from;
  register coro* t __asm__("a1") = to;
  __asm__ volatile(
      "frcsr t0\n\t"
      "sw t0, 32(a0)\n\t"
      "sd sp, 0(a0)\n\t"
      "lla t1, 1f\n\t"
      "sd t1, 8(a0)\n\t"
      "sd s0, 16(a0)\n\t"
      "sd s1, 24(a0)\n\t"
      "lw t1, 32(a1)\n\t"
      "beq t0, t1, 2f\n\t"
      "fscsr t1\n\t"
      "2:\n\t"
      "ld sp, 0(a1)\n\t"
      "ld s0, 16(a1)\n\t"
      "ld s1, 24(a1)\n\t"
      "ld t1, 8(a1)\n\t"
      "jr t1\n\t"
      "1:\n\t"
      : "+r"(f), "+r"(t)
      :
      : "ra", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "a2", "a3", "a4", "a5", "a6", "a7",
        "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "memory", "ft0", "ft1",
        "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "ft8", "ft9", "ft10", "ft11", "fa0", "fa1",
        "fa2", "fa3", "fa4", "fa5", "fa6", "fa7", "fs0", "fs1", "fs2", "fs3", "fs4", "fs5",
        "fs6", "fs7", "fs8", "fs9", "fs10", "fs11");
}

/// The FP control and status register a new coroutine starts with: its creator's.
inline std::uint32_t read_fp_control() noexcept {
  std::uint64_t v;
  __asm__ volatile("frcsr %0" : "=r"(v));
  return static_cast<std::uint32_t>(v);
}
inline std::uint16_t read_fp_control2() noexcept {
  return 0;
}

}  // namespace xcoro::detail::arch
