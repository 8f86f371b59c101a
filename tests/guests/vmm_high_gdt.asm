; A probe for tests/vmm/linux_test.ts (flat, long mode, at 0x100000): loads a GDT through a higher-half
; address (0xffffffff80000000 maps the first 2 MiB; the test adds that mapping) and far-returns
; through it, as Linux's startup_64 does. Exits through isa-debug-exit 0xf4 with 1 (status 3) when that
; works; an emulator that reads the GDT at a truncated address triple-faults instead.
bits 64
org 0x100000
  lgdt [rel gdtr]
  push 0x10
  lea rax, [rel next]
  push rax
  retfq
next:
  mov al, 1
  out 0xf4, al
  hlt
align 8
gdt:
  dq 0
  dq 0
  dq 0x00af9b000000ffff   ; 0x10: 64-bit code
  dq 0x00cf93000000ffff   ; 0x18: data
gdtr:
  dw 31
  dq 0xffffffff80000000 + gdt        ; the GDT above, through the higher half
