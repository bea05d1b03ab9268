// aarch64 (AAPCS64): the entry stub that starts every new coroutine. The switch itself is
// inline asm (include/xcoro/detail/switch_aarch64.hpp). Assembles for ELF (Linux) and, with
// the leading-underscore spelling, for Mach-O (macOS).
//
// The first context (src/arch/context.hpp) leaves x29 = 0 and sp = top - 16, 16-byte
// aligned, with the coroutine record at [sp] and the C++ entry function at [sp, #8]. The
// return address is undefined in the CFI, so unwinders and debuggers stop at this frame.
// The switch reaches the stub with `br`, so under BTI it starts with a `bti j` landing pad.

#if defined(__APPLE__)
#define XCORO_SYMBOL(name) _##name
#define XCORO_TYPE(name)
#define XCORO_SIZE(name)
#define XCORO_HIDDEN(name) .private_extern XCORO_SYMBOL(name)
#else
#define XCORO_SYMBOL(name) name
#define XCORO_TYPE(name) .type name, %function
#define XCORO_SIZE(name) .size name, .-name
// Hidden in a shared library too: only the library's own code refers to it.
#define XCORO_HIDDEN(name) .hidden name
#endif

        .text
        .globl  XCORO_SYMBOL(xcoro_entry_stub)
        XCORO_HIDDEN(xcoro_entry_stub)
        XCORO_TYPE(xcoro_entry_stub)
        .p2align 2
XCORO_SYMBOL(xcoro_entry_stub):
        .cfi_startproc
        .cfi_undefined x30
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
        bti     j
#endif
        ldp     x0, x1, [sp]
        mov     x29, #0
        mov     x30, #0
        blr     x1                      // [[noreturn]]
        brk     #0
        .cfi_endproc
        XCORO_SIZE(xcoro_entry_stub)

#if !defined(__APPLE__)
        .section .note.GNU-stack, "", %progbits
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
// GNU property note: this object supports BTI (and PAC: it signs no return addresses).
        .section .note.gnu.property, "a"
        .p2align 3
        .word   4
        .word   16
        .word   5                       // NT_GNU_PROPERTY_TYPE_0
        .asciz  "GNU"
        .word   0xc0000000              // GNU_PROPERTY_AARCH64_FEATURE_1_AND
        .word   4
        .word   3                       // BTI | PAC
        .word   0
#endif
#endif
