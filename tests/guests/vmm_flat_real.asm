; A flat real-mode guest for tests/vmm/guests_test.ts (kvmkit run --flat --mode real --at 0x7c00):
; sets COM1 to 8N1, prints the RAM size in MiB it reads from the CMOS (registers 0x34/0x35: 64 KiB units
; above 16 MiB), and exits through isa-debug-exit at 0xf4 with MiB / 16.
%include "_console.inc"
REAL_START
  mov dx, 0x3fb
  mov al, 0x80            ; DLAB
  out dx, al
  mov dx, 0x3f8
  mov al, 1               ; divisor 1: 115200 baud
  out dx, al
  inc dx
  xor al, al
  out dx, al
  mov dx, 0x3fb
  mov al, 3               ; 8N1
  out dx, al
  mov si, msg
  call puts
  mov al, 0x35
  out 0x70, al
  in al, 0x71
  mov ah, al
  mov al, 0x34
  out 0x70, al
  in al, 0x71             ; ax: 64 KiB units above 16 MiB
  shr ax, 4
  add ax, 16              ; MiB
  call puthex16
  push ax
  mov al, 10
  call putc
  pop ax
  shr ax, 4
  out 0xf4, al            ; isa-debug-exit: status (MiB / 16) * 2 + 1
  hlt

putc:                     ; al: waits for THRE, then sends
  push dx
  push ax
  mov dx, 0x3fd
.wait:
  in al, dx
  test al, 0x20
  jz .wait
  pop ax
  mov dx, 0x3f8
  out dx, al
  pop dx
  ret

PUTS                      ; puts: ds:si, a NUL-terminated string

puthex16:                 ; ax in hex, kept
  push ax
  push cx
  mov cx, 4
.digit:
  rol ax, 4
  push ax
  PUT_HEX_DIGIT
  pop ax
  loop .digit
  pop cx
  pop ax
  ret

msg db "real mode: RAM MiB 0x", 0
