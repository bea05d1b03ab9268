// The Windows x64 stack switch: always the called one, xcoro_switch_context in
// src/arch/switch_x86_64_ms_pe_gas.S, which also switches the thread information block's
// stack fields. The record keeps the resume context at the offsets in
// detail::context_offsets (rsp, resume address, rbp, MXCSR, x87 control word); the other
// callee-saved registers of the Win64 ABI (rbx, rdi, rsi, r12-r15, xmm6-xmm15) and the TIB
// fields live on the suspended stack.
#pragma once

#include <cstdint>

#include "xcoro/config.hpp"
#include "xcoro/detail/coro_record.hpp"
#include "xcoro/detail/fp_control_x86_64.hpp"

extern "C" {
/// Saves the running context into `from` (a coro record), continues the one in `to`.
void xcoro_switch_context(void* from, void* to) noexcept;
}

namespace xcoro::detail::arch {

static_assert(context_offsets::sp == 0 && context_offsets::pc == 8 && context_offsets::fp == 16 &&
                  context_offsets::fp_control == 32 && context_offsets::fp_control2 == 36,
              "src/arch/switch_x86_64_ms_pe_gas.S hard-codes these offsets");

inline void switch_context(coro* from, coro* to) noexcept {
  xcoro_switch_context(from, to);
}

}  // namespace xcoro::detail::arch
