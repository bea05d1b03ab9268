// The aarch64 (AAPCS64) stack switch, inlined at each xresume/xsuspend site: the compiler
// saves the callee-saved registers it has live (x19-x28, d8-d15) around it, given the
// clobber list; the switch itself saves what the compiler may not be told is clobbered:
//
//   record + 0   saved sp
//   record + 8   resume address
//   record + 16  saved x29 (frame pointer)
//   record + 24  saved x19 (LLVM's base pointer in functions with over-aligned locals and
//                variable-sized objects)
//   record + 32  FPCR (4 bytes; restored only when it differs)
//
// x18 is the platform register on macOS and Windows (left alone there) but an ordinary
// temporary on Linux (clobbered). With BTI the resume label is a landing pad.
#pragma once

#include "xcoro/detail/coro_record.hpp"

namespace xcoro::detail::arch {

static_assert(context_offsets::sp == 0 && context_offsets::pc == 8 && context_offsets::fp == 16 &&
                  context_offsets::bx == 24 && context_offsets::fp_control == 32,
              "the switch below hard-codes these offsets");

#if defined(__APPLE__) || defined(_WIN32)
#define XCORO_CLOBBER_X18
#else
#define XCORO_CLOBBER_X18 , "x18"
#endif

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define XCORO_BTI_J "bti j\n\t"
#else
#define XCORO_BTI_J ""
#endif

/// Saves the running context into `from`, continues `to`. Returns when something switches
/// back into `from`.
inline void switch_context(coro* from, coro* to) noexcept {
  register coro* f __asm__("x0") = from;
  register coro* t __asm__("x1") = to;
  __asm__ volatile(
      "mrs x9, fpcr\n\t"
      "str w9, [x0, #32]\n\t"
      "mov x10, sp\n\t"
      "str x10, [x0, #0]\n\t"
      "adr x10, 1f\n\t"
      "str x10, [x0, #8]\n\t"
      "stp x29, x19, [x0, #16]\n\t"
      "ldr w10, [x1, #32]\n\t"
      "cmp w9, w10\n\t"
      "b.eq 2f\n\t"
      "msr fpcr, x10\n\t"
      "2:\n\t"
      "ldr x10, [x1, #0]\n\t"
      "mov sp, x10\n\t"
      "ldp x29, x19, [x1, #16]\n\t"
      "ldr x10, [x1, #8]\n\t"
      "br x10\n\t"
      "1:\n\t" XCORO_BTI_J
      : "+r"(f), "+r"(t)
      :
      : "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
        "x15", "x16", "x17", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
        "x30", "memory", "cc", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9",
        "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21",
        "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30",
        "v31" XCORO_CLOBBER_X18);
}

/// The FP control register a new coroutine starts with: its creator's.
inline std::uint32_t read_fp_control() noexcept {
  std::uint64_t v;
  __asm__ volatile("mrs %0, fpcr" : "=r"(v));
  return static_cast<std::uint32_t>(v);
}
inline std::uint16_t read_fp_control2() noexcept {
  return 0;
}

}  // namespace xcoro::detail::arch
