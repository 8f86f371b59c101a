; The console input path for tests/vmm/guests_test.ts (flat, real mode, at 0x7c00): programs the 8259s
; (IRQ 4 at vector 0x24, everything else masked) and COM1 (FIFO, received-data interrupt, OUT2), prints
; '>', then sleeps in HLT; its IRQ 4 handler echoes every received byte upper-cased. A newline ends it:
; isa-debug-exit 0xf4 with the number of bytes received.
%include "_console.inc"
REAL_START
  mov ss, ax
  mov sp, 0x7000
  mov word [0x24 * 4], handler
  mov word [0x24 * 4 + 2], 0
  mov al, 0x11            ; ICW1: edge, cascade, ICW4
  out 0x20, al
  out 0xa0, al
  mov al, 0x20            ; ICW2: vectors 0x20 and 0x28
  out 0x21, al
  mov al, 0x28
  out 0xa1, al
  mov al, 4               ; ICW3: the slave on IRQ 2
  out 0x21, al
  mov al, 2
  out 0xa1, al
  mov al, 1               ; ICW4: 8086 mode
  out 0x21, al
  out 0xa1, al
  mov al, 0xef            ; OCW1: only IRQ 4
  out 0x21, al
  mov al, 0xff
  out 0xa1, al
  mov dx, 0x3fa
  mov al, 0x07            ; FCR: FIFO on, both cleared, trigger 1
  out dx, al
  mov dx, 0x3fc
  mov al, 0x08            ; MCR: OUT2
  out dx, al
  mov dx, 0x3f9
  mov al, 0x01            ; IER: received data
  out dx, al
  mov dx, 0x3f8
  mov al, '>'
  out dx, al
  sti
.idle:
  hlt
  cmp byte [done], 0
  je .idle
  mov al, [count]
  out 0xf4, al
  hlt

handler:
  push ax
  push dx
.more:
  mov dx, 0x3fd
  in al, dx
  test al, 1              ; LSR.DR
  jz .eoi
  mov dx, 0x3f8
  in al, dx
  inc byte [count]
  cmp al, 10
  jne .upper
  mov byte [done], 1
.upper:
  cmp al, 'a'
  jb .echo
  cmp al, 'z'
  ja .echo
  sub al, 32
.echo:
  out dx, al
  jmp .more
.eoi:
  mov al, 0x20            ; non-specific EOI
  out 0x20, al
  pop dx
  pop ax
  iret

done db 0
count db 0
