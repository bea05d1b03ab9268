// The x86-64 System V stack switch, in its two shapes. Both save the running context into
// its record and continue the target's from its record (detail::context_offsets):
//
//   record + 0   saved rsp
//   record + 8   resume address
//   record + 16  saved rbp
//   record + 24  saved rbx
//   record + 32  MXCSR (4 bytes)
//   record + 36  x87 control word (2 bytes)
//
// rbp and rbx are saved by hand rather than clobbered: the compiler may reserve them as the
// frame pointer and (clang, in functions with over-aligned locals and VLAs) the base
// pointer, and would then silently keep using them across the switch.
//
// XCORO_INLINE_SWITCH (the default, see config.hpp) inlines the switch at each
// xresume/xsuspend site with a clobber list, so the compiler saves only the callee-saved
// registers that are live there, and a resume reads nothing but the target record's first
// cache line before jumping. Otherwise xcoro_switch_context in
// src/arch/switch_x86_64_sysv_elf_gas.S is called, which saves all callee-saved registers
// on the stack. docs/design.md has the measurements behind the default.
//
// The FP control words are reloaded only when the target's differ (for MXCSR: its control
// bits 6..15): ldmxcsr and fldcw cost several cycles and almost every switch finds them
// equal. The MXCSR status flags are caller-saved in the ABI and travel only with a reload.
#pragma once

#include "xcoro/config.hpp"
#include "xcoro/detail/coro_record.hpp"
#include "xcoro/detail/fp_control_x86_64.hpp"

extern "C" {
/// The called switch: saves the running context into `from` (a coro record), continues
/// the one saved in `to`.
void xcoro_switch_context(void* from, void* to) noexcept;
}

namespace xcoro::detail::arch {

static_assert(context_offsets::sp == 0 && context_offsets::pc == 8 && context_offsets::fp == 16 &&
                  context_offsets::bx == 24 && context_offsets::fp_control == 32 &&
                  context_offsets::fp_control2 == 36,
              "the switch below hard-codes these offsets");

#if XCORO_INLINE_SWITCH

#if defined(__CET__) && (__CET__ & 1)
#define XCORO_ENDBR "endbr64\n\t"
#else
#define XCORO_ENDBR ""
#endif

// The AVX-512 registers are clobbered when the translation unit is compiled for AVX-512.
// A function given AVX-512 by __attribute__((target)) in a file that is not must use the
// called switch (XCORO_INLINE_SWITCH=OFF): the compiler rejects their names otherwise.
#if defined(__AVX512F__)
#define XCORO_CLOBBER_AVX512                                                                 \
  , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", \
      "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", \
      "k6", "k7"
#else
#define XCORO_CLOBBER_AVX512
#endif

/// Saves the running context into `from`, continues `to`. Returns when something switches
/// back into `from`. No stack memory is written: the red zone of the code around it is
/// safe.
inline void switch_context(coro* from, coro* to) noexcept {
  __asm__ volatile(
      "stmxcsr 32(%0)\n\t"
      "fnstcw 36(%0)\n\t"
      "movq %%rbp, 16(%0)\n\t"
      "movq %%rbx, 24(%0)\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "movq %%rax, 8(%0)\n\t"
      "movq %%rsp, (%0)\n\t"
      "movl 32(%0), %%eax\n\t"
      "xorl 32(%1), %%eax\n\t"
      "testl $0xffc0, %%eax\n\t"
      "jz 2f\n\t"
      "ldmxcsr 32(%1)\n\t"
      "2:\n\t"
      "movzwl 36(%0), %%eax\n\t"
      "cmpw 36(%1), %%ax\n\t"
      "je 3f\n\t"
      "fldcw 36(%1)\n\t"
      "3:\n\t"
      "movq (%1), %%rsp\n\t"
      "movq 16(%1), %%rbp\n\t"
      "movq 24(%1), %%rbx\n\t"
      "jmp *8(%1)\n\t"
      "1:\n\t" XCORO_ENDBR
      : "+D"(from), "+S"(to)
      :
      : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
        "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
        "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)",
        "st(3)", "st(4)", "st(5)", "st(6)", "st(7)" XCORO_CLOBBER_AVX512);
}

#else

inline void switch_context(coro* from, coro* to) noexcept {
  xcoro_switch_context(from, to);
}

#endif

}  // namespace xcoro::detail::arch
