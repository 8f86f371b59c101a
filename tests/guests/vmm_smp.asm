; An SMP guest for tests/vmm/guests_test.ts (flat, protected mode, at 0x10000, --cpus 2): the BSP copies a
; real-mode trampoline to 0x8000, starts the AP (APIC ID 1) with INIT and a SIPI (vector 8) through its local
; APIC's ICR, waits for the AP to write "APUP" at 0x8100, reports it on COM1 and exits through isa-debug-exit
; 0xf4 with 0x11 (status 0x23).
bits 32
org 0x10000
start:
  mov esi, tramp
  mov edi, 0x8000
  mov ecx, tramp_end - tramp
  rep movsb
  mov dword [0x8100], 0
  mov dword [0xfee000f0], 0x1ff        ; SVR: the local APIC software-enabled, as an OS has it
  mov dword [0xfee00310], 0x01000000   ; ICR high: destination APIC ID 1
  mov dword [0xfee00300], 0x00004500   ; INIT, assert
  mov dword [0xfee00310], 0x01000000
  mov dword [0xfee00300], 0x00004608   ; start-up, vector 8: the AP starts at 0800:0000
.wait:
  pause
  cmp dword [0x8100], 0x50555041       ; "APUP"
  jne .wait
  mov esi, msg
.puts:
  lodsb
  test al, al
  jz .done
  mov dx, 0x3f8
  out dx, al
  jmp .puts
.done:
  mov al, 0x11
  out 0xf4, al
  hlt

tramp:
bits 16
  xor ax, ax
  mov ds, ax
  mov dword [0x8100], 0x50555041
.halt:
  cli
  hlt
  jmp .halt
tramp_end:

msg db "AP up", 10, 0
