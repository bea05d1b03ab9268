// The called coroutine switch for x86-64 System V (Linux, ELF), used when CMake option
// XCORO_INLINE_SWITCH is OFF, and the entry stub that starts every new coroutine (both
// shapes of the switch).
//
// Like the inline switch (include/xcoro/detail/switch_x86_64.hpp), it keeps the resume
// context in the coroutine record:
//
//   record + 0   saved rsp            record + 32  MXCSR (4 bytes)
//   record + 8   resume address       record + 36  x87 control word (2 bytes)
//   record + 16  saved rbp
//
// and, since its caller cannot know which callee-saved registers are live, it also saves
// r12-r15 and rbx on the suspended stack, where the CFI can describe them (the record's rbx
// slot is the inline switch's):
//
//   rsp + 0x00  r12      rsp + 0x18  r15
//   rsp + 0x08  r13      rsp + 0x20  rbx
//   rsp + 0x10  r14      rsp + 0x28  return address into the caller
//
// Not saved: the caller-saved registers, the MXCSR status flags (caller-saved in the ABI;
// they travel only when the control bits differ and MXCSR is reloaded), the x87 status
// word. The FP control words are reloaded only when the target's differ.

#if !defined(XCORO_SHARED_LIBRARY)
#define XCORO_HIDDEN(sym) .hidden sym
#else
#define XCORO_HIDDEN(sym)
#endif

        .text

// void xcoro_switch_context(void* from /* rdi */, void* to /* rsi */);
        .globl  xcoro_switch_context
        XCORO_HIDDEN(xcoro_switch_context)
        .type   xcoro_switch_context, @function
        .p2align 4
xcoro_switch_context:
        .cfi_startproc
#if defined(__CET__)
        endbr64
#endif
        subq    $0x28, %rsp
        .cfi_adjust_cfa_offset 0x28
        movq    %r12, 0x00(%rsp)
        .cfi_rel_offset %r12, 0x00
        movq    %r13, 0x08(%rsp)
        .cfi_rel_offset %r13, 0x08
        movq    %r14, 0x10(%rsp)
        .cfi_rel_offset %r14, 0x10
        movq    %r15, 0x18(%rsp)
        .cfi_rel_offset %r15, 0x18
        movq    %rbx, 0x20(%rsp)
        .cfi_rel_offset %rbx, 0x20
        stmxcsr 32(%rdi)
        fnstcw  36(%rdi)
        movq    %rbp, 16(%rdi)
        leaq    .Lresume(%rip), %rax
        movq    %rax, 8(%rdi)
        movq    %rsp, (%rdi)            // from here on `from` is suspended

        movl    32(%rdi), %eax
        xorl    32(%rsi), %eax          // MXCSR control bits (6..15) differ?
        testl   $0xffc0, %eax
        jz      1f
        ldmxcsr 32(%rsi)
1:      movzwl  36(%rdi), %eax
        cmpw    36(%rsi), %ax
        je      2f
        fldcw   36(%rsi)
2:      movq    (%rsi), %rsp
        movq    16(%rsi), %rbp
        jmpq    *8(%rsi)

.Lresume:                               // someone switched back into `from`
#if defined(__CET__)
        endbr64
#endif
        movq    0x00(%rsp), %r12
        movq    0x08(%rsp), %r13
        movq    0x10(%rsp), %r14
        movq    0x18(%rsp), %r15
        movq    0x20(%rsp), %rbx
        addq    $0x28, %rsp
        .cfi_adjust_cfa_offset -0x28
        ret
        .cfi_endproc
        .size   xcoro_switch_context, .-xcoro_switch_context

// The first code a new coroutine runs, for both shapes of the switch. The first frame
// (built by init_context in src/arch/context.hpp) leaves rbp = 0 and rsp = top - 16, 16-byte
// aligned, with the coroutine record at 0(%rsp) and the C++ entry function at 8(%rsp).
// The return address is undefined in the CFI, so unwinders and debuggers stop here.
        .globl  xcoro_entry_stub
        .hidden xcoro_entry_stub        // only the library's own code refers to it
        .type   xcoro_entry_stub, @function
        .p2align 4
xcoro_entry_stub:
        .cfi_startproc
        .cfi_undefined %rip
#if defined(__CET__)
        endbr64
#endif
        movq    (%rsp), %rdi
        callq   *8(%rsp)                // [[noreturn]]
        ud2
        .cfi_endproc
        .size   xcoro_entry_stub, .-xcoro_entry_stub

        .section .note.GNU-stack, "", @progbits
