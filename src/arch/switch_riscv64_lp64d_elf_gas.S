// riscv64 (LP64D): the entry stub that starts every new coroutine. The switch itself is
// inline asm (include/xcoro/detail/switch_riscv64.hpp).
//
// The first context (src/arch/context.hpp) leaves s0 = 0 and sp = top - 16, 16-byte
// aligned, with the coroutine record at 0(sp) and the C++ entry function at 8(sp). The
// return address is undefined in the CFI, so unwinders and debuggers stop at this frame.

// Hidden in a shared library too: only the library's own code refers to it.
#define XCORO_HIDDEN(name) .hidden name

        .text
        .globl  xcoro_entry_stub
        XCORO_HIDDEN(xcoro_entry_stub)
        .type   xcoro_entry_stub, @function
        .p2align 2
xcoro_entry_stub:
        .cfi_startproc
        .cfi_undefined ra
        ld      a0, 0(sp)
        ld      t0, 8(sp)
        li      s0, 0
        li      ra, 0
        jalr    t0                      // [[noreturn]]
        ebreak
        .cfi_endproc
        .size   xcoro_entry_stub, .-xcoro_entry_stub

        .section .note.GNU-stack, "", @progbits
