/* The entry of gdb_vmm.elf (tests/gdb/cli_test.ts): a multiboot kernel that
 * kvmkit's --kernel starts in 32-bit protected mode. main()'s value goes to
 * isa-debug-exit at 0xf4 (the run ends there with --debug-exit 0xf4);
 * without that device the guest powers off through ACPI S5. */
    .text                               /* linked first: the header opens .text */
    .align 4
    .long 0x1badb002, 0, -0x1badb002    /* multiboot: magic, no flags, checksum */
    .globl _start
_start:
    mov $stack_top, %esp
    call main
    mov $0xf4, %dx
    out %al, %dx                        /* isa-debug-exit: status (al << 1) | 1 */
    mov $0x604, %dx                     /* PM1a control: SLP_TYP 5 (S5) | SLP_EN */
    mov $0x3400, %ax
    out %ax, %dx
1:  hlt
    jmp 1b

    .bss
    .align 16
    .space 8192
stack_top:

    .section .note.GNU-stack, "", @progbits
