/* The C guest's entry: the host enters 64-bit mode at CPL 3 with rsp set
 * and jumps here; main()'s return value is reported on port 0xea, which
 * ends the run. */
    .section .text.start, "ax"
    .globl _start
_start:
    and $-16, %rsp          /* the SysV ABI's 16-byte stack alignment */
    call main
    mov %eax, %ebx
    mov $0xea, %dx
    out %eax, %dx           /* exit code: the host stops here */
1:  jmp 1b

    .section .note.GNU-stack, "", @progbits
