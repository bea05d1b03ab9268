// xcoro_resume and xcoro_suspend for x86-64 System V (ELF): the C API's two switching
// calls, in assembly so that they return to their caller by jumping.
//
// Written in C++, each is a call whose return comes after a switch: xcoro_resume is called
// on the resumer's stack and its `ret` runs once the coroutine has suspended, while
// xcoro_suspend returns into the coroutine after a resume. The CPU predicts every `ret`
// from its return stack buffer, which holds the call made on the other stack: each switch
// then costs a mispredicted return (about as much as the rest of the switch). Here the
// checks and bookkeeping run in C++ before the switch (xcoro_c_resume_begin,
// xcoro_c_suspend_begin, with balanced calls), the switch is the inline switch's
// (include/xcoro/detail/switch_x86_64.hpp), and the way back checks the two rare cases
// itself (the C++ *_end functions handle them), pops the return address and jumps to it:
// an indirect jump, which the branch target buffer predicts per site.
//
// Both shapes of the C++ switch can continue a coroutine suspended here: the resume
// address, rsp and rbp are in the record as theirs are (rbx too, for the inline shape),
// and rbx and r12-r15 are also saved on the suspended stack, restored here after the
// switch back (the called shape does not restore rbx from the record).
//
// Built only without ASan and TSan, whose fiber hooks the C++ versions in
// src/c_api/coro.cpp call around the switch (CMakeLists.txt, XCORO_C_ASM_ENTRIES).

#if defined(__CET__)
#define XCORO_ENDBR endbr64
#else
#define XCORO_ENDBR
#endif

        .text

// What the way back reads without a call, at offsets that src/c_api/coro.cpp checks:
// xcoro::detail::tls (initial-exec: the C API's sources use that model in a shared
// library too), its `current` and `pending_block`, and a record's flags and flag_unwind.
#define XCORO_TLS _ZN5xcoro6detail3tlsE
#define XCORO_TLS_CURRENT 0
#define XCORO_TLS_PENDING_BLOCK 8
#define XCORO_CORO_FLAGS 39
#define XCORO_FLAG_UNWIND 1

// rax = the running coroutine's record (`from`), rdx = the target's (`to`), the caller's
// return address at 0(%rsp). Saves, switches, and once something switches back returns 0
// by jumping to the return address; or, when a suspend block is pending (and, with
// `unwind` 1, when the coroutine is being unwound), calls `end` and returns its result.
.macro XCORO_C_SWITCH end unwind
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r12, 0
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r13, 0
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r14, 0
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r15, 0
        stmxcsr 32(%rax)
        fnstcw  36(%rax)
        movq    %rbp, 16(%rax)
        movq    %rbx, 24(%rax)
        leaq    1f(%rip), %rcx
        movq    %rcx, 8(%rax)
        movq    %rsp, (%rax)            // from here on `from` is suspended
        movl    32(%rax), %ecx
        xorl    32(%rdx), %ecx          // MXCSR control bits (6..15) differ?
        testl   $0xffc0, %ecx
        jz      2f
        ldmxcsr 32(%rdx)
2:      movzwl  36(%rax), %ecx
        cmpw    36(%rdx), %cx
        je      3f
        fldcw   36(%rdx)
3:      movq    (%rdx), %rsp
        movq    16(%rdx), %rbp
        movq    24(%rdx), %rbx
        jmpq    *8(%rdx)
1:                                      // something switched back into `from`
        XCORO_ENDBR
        popq    %r15
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r15
        popq    %r14
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r14
        popq    %r13
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r13
        popq    %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r12
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        movq    XCORO_TLS@gottpoff(%rip), %rcx
        cmpq    $0, %fs:XCORO_TLS_PENDING_BLOCK(%rcx)
        jne     4f
.if \unwind
        movq    %fs:XCORO_TLS_CURRENT(%rcx), %rdx
        testb   $XCORO_FLAG_UNWIND, XCORO_CORO_FLAGS(%rdx)
        jnz     4f
.endif
        xorl    %eax, %eax
        popq    %rcx
        .cfi_adjust_cfa_offset -8
        jmpq    *%rcx
        .cfi_adjust_cfa_offset 8
4:      subq    $8, %rsp                // the call needs rsp 16-byte aligned
        .cfi_adjust_cfa_offset 8
        call    \end@PLT
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %rcx
        .cfi_adjust_cfa_offset -8
        jmpq    *%rcx
.endm

// int xcoro_resume(xcoro_coro* c /* rdi */);
        .globl  xcoro_resume
        .type   xcoro_resume, @function
        .p2align 4
xcoro_resume:
        .cfi_startproc
        XCORO_ENDBR
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        call    xcoro_c_resume_begin@PLT  // {from, to}, or {0, the result}
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        testq   %rax, %rax
        jz      .Lresume_result
        XCORO_C_SWITCH xcoro_c_resume_end 0
        .cfi_adjust_cfa_offset 8
.Lresume_result:
        movl    %edx, %eax
        ret
        .cfi_endproc
        .size   xcoro_resume, .-xcoro_resume

// int xcoro_suspend(void);
        .globl  xcoro_suspend
        .type   xcoro_suspend, @function
        .p2align 4
xcoro_suspend:
        .cfi_startproc
        XCORO_ENDBR
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        call    xcoro_c_suspend_begin@PLT
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        testq   %rax, %rax
        jz      .Lsuspend_result
        XCORO_C_SWITCH xcoro_c_suspend_end 1
        .cfi_adjust_cfa_offset 8
.Lsuspend_result:
        movl    %edx, %eax
        ret
        .cfi_endproc
        .size   xcoro_suspend, .-xcoro_suspend

        .section .note.GNU-stack, "", @progbits
