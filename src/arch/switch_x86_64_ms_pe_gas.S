// The coroutine switch for Windows x64 (PE/COFF, GNU assembler: MinGW-w64 and clang),
// and the entry stub that starts every new coroutine. Windows has only this called
// switch: an inline one would also have to clobber rdi, rsi and xmm6-xmm15, which the
// compiler then saves around every switch anyway.
//
// Like the System V switches, it keeps the resume context in the coroutine record
// (detail::context_offsets):
//
//   record + 0   saved rsp            record + 32  MXCSR (4 bytes)
//   record + 8   resume address       record + 36  x87 control word (2 bytes)
//   record + 16  saved rbp
//
// and saves everything else the Win64 ABI makes callee-saved on the suspended stack,
// together with the fields of the thread information block (TEB/TIB, at %gs:0) that
// belong to the running stack. The system's unwinder (C++ exceptions are SEH on Win64),
// __chkstk's probes and guard-page handling read the stack bounds; wine also walks
// ExceptionList, the x86 handler chain, before the table-based frames whenever it lies
// below them, so a coroutine whose stack sits above its thread's would see the thread's
// outermost handlers first. Each coroutine carries its own:
//
//   rsp + 0x00  ExceptionList         %gs:0x0
//   rsp + 0x08  FiberData             %gs:0x20
//   rsp + 0x10  DeallocationStack     %gs:0x1478
//   rsp + 0x18  StackLimit            %gs:0x10
//   rsp + 0x20  StackBase             %gs:0x08
//   rsp + 0x28  GuaranteedStackBytes  %gs:0x1748
//   rsp + 0x30  xmm6 ... xmm15        (16 bytes each, up to 0xd0)
//   rsp + 0xd0  rbx, rdi, rsi, r12, r13, r14, r15
//   rsp + 0x108 return address into the caller
//
// The TEB block comes first so that the restore path can pop it before jumping: a new
// coroutine's first frame (init_context in src/arch/context.hpp) holds only that block
// and the entry stub's two words. The FP control words are reloaded only when the
// target's differ, as on System V.

        .text

// void xcoro_switch_context(void* from /* rcx */, void* to /* rdx */);
        .globl  xcoro_switch_context
        .def    xcoro_switch_context; .scl 2; .type 32; .endef
        .p2align 4
        .seh_proc xcoro_switch_context
xcoro_switch_context:
        subq    $0x108, %rsp
        .seh_stackalloc 0x108
        movq    %rbx, 0xd0(%rsp)
        .seh_savereg %rbx, 0xd0
        movq    %rdi, 0xd8(%rsp)
        .seh_savereg %rdi, 0xd8
        movq    %rsi, 0xe0(%rsp)
        .seh_savereg %rsi, 0xe0
        movq    %r12, 0xe8(%rsp)
        .seh_savereg %r12, 0xe8
        movq    %r13, 0xf0(%rsp)
        .seh_savereg %r13, 0xf0
        movq    %r14, 0xf8(%rsp)
        .seh_savereg %r14, 0xf8
        movq    %r15, 0x100(%rsp)
        .seh_savereg %r15, 0x100
        movaps  %xmm6, 0x30(%rsp)
        .seh_savexmm %xmm6, 0x30
        movaps  %xmm7, 0x40(%rsp)
        .seh_savexmm %xmm7, 0x40
        movaps  %xmm8, 0x50(%rsp)
        .seh_savexmm %xmm8, 0x50
        movaps  %xmm9, 0x60(%rsp)
        .seh_savexmm %xmm9, 0x60
        movaps  %xmm10, 0x70(%rsp)
        .seh_savexmm %xmm10, 0x70
        movaps  %xmm11, 0x80(%rsp)
        .seh_savexmm %xmm11, 0x80
        movaps  %xmm12, 0x90(%rsp)
        .seh_savexmm %xmm12, 0x90
        movaps  %xmm13, 0xa0(%rsp)
        .seh_savexmm %xmm13, 0xa0
        movaps  %xmm14, 0xb0(%rsp)
        .seh_savexmm %xmm14, 0xb0
        movaps  %xmm15, 0xc0(%rsp)
        .seh_savexmm %xmm15, 0xc0
        .seh_endprologue
        movq    %gs:0x0, %rax
        movq    %rax, 0x00(%rsp)
        movq    %gs:0x20, %rax
        movq    %rax, 0x08(%rsp)
        movq    %gs:0x1478, %rax
        movq    %rax, 0x10(%rsp)
        movq    %gs:0x10, %rax
        movq    %rax, 0x18(%rsp)
        movq    %gs:0x08, %rax
        movq    %rax, 0x20(%rsp)
        movq    %gs:0x1748, %rax
        movq    %rax, 0x28(%rsp)
        stmxcsr 32(%rcx)
        fnstcw  36(%rcx)
        movq    %rbp, 16(%rcx)
        leaq    .Lresume(%rip), %rax
        movq    %rax, 8(%rcx)
        movq    %rsp, (%rcx)            // from here on `from` is suspended

        movl    32(%rcx), %eax
        xorl    32(%rdx), %eax          // MXCSR control bits (6..15) differ?
        testl   $0xffc0, %eax
        jz      1f
        ldmxcsr 32(%rdx)
1:      movzwl  36(%rcx), %eax
        cmpw    36(%rdx), %ax
        je      2f
        fldcw   36(%rdx)
2:      movq    (%rdx), %rsp
        popq    %gs:0x0
        popq    %gs:0x20
        popq    %gs:0x1478
        popq    %gs:0x10
        popq    %gs:0x08
        popq    %gs:0x1748
        movq    16(%rdx), %rbp
        jmpq    *8(%rdx)

.Lresume:                               // someone switched back into `from`; rsp + 0x30
        movaps  0x00(%rsp), %xmm6
        movaps  0x10(%rsp), %xmm7
        movaps  0x20(%rsp), %xmm8
        movaps  0x30(%rsp), %xmm9
        movaps  0x40(%rsp), %xmm10
        movaps  0x50(%rsp), %xmm11
        movaps  0x60(%rsp), %xmm12
        movaps  0x70(%rsp), %xmm13
        movaps  0x80(%rsp), %xmm14
        movaps  0x90(%rsp), %xmm15
        movq    0xa0(%rsp), %rbx
        movq    0xa8(%rsp), %rdi
        movq    0xb0(%rsp), %rsi
        movq    0xb8(%rsp), %r12
        movq    0xc0(%rsp), %r13
        movq    0xc8(%rsp), %r14
        movq    0xd0(%rsp), %r15
        addq    $0xd8, %rsp
        ret
        .seh_endproc

// The first code a new coroutine runs. The switch has popped the TEB block and left
// rsp = top - 64, 16-byte aligned, with the coroutine record at 0(%rsp), the C++ entry
// function at 8(%rsp) and a zero return address at top - 8. The unwind data describes
// the stub as a function that allocated 56 bytes below that return address, so the
// system's unwinder and debuggers find a null caller and stop here. [rsp, rsp + 32) is
// the callee's shadow space; the two words in it are read before the call.
        .globl  xcoro_entry_stub
        .def    xcoro_entry_stub; .scl 2; .type 32; .endef
        .p2align 4
        .seh_proc xcoro_entry_stub
xcoro_entry_stub:
        .seh_stackalloc 56              // no instruction: the frame was built beforehand
        .seh_endprologue
        movq    (%rsp), %rcx
        callq   *8(%rsp)                // [[noreturn]]
        ud2
        .seh_endproc
