; A flat 64-bit guest for tests/vmm/guests_test.ts (kvmkit run --flat --mode long --at 0x100000): reads
; fw_cfg's signature and CPU count, finds the ACPI RSDP in the BIOS area and prints its OEM ID and the
; XSDT's first entry's signature, then powers off through ACPI S5 (PM1a control at 0x604).
bits 64
org 0x100000
%include "_console.inc"
start:
  lea rsi, [rel msg_fw]
  call puts
  mov dx, 0x510
  xor ax, ax              ; FW_CFG_SIGNATURE
  out dx, ax
  inc dx
  mov ecx, 4
.sig:
  in al, dx
  call putc
  loop .sig
  lea rsi, [rel msg_cpus]
  call puts
  mov dx, 0x510
  mov ax, 5               ; FW_CFG_NB_CPUS
  out dx, ax
  inc dx
  in al, dx
  add al, '0'
  call putc
  mov al, 10
  call putc
  ; The RSDP: "RSD PTR " on a 16-byte boundary in 0xe0000-0xfffff.
  mov rbx, 0xe0000
  mov rax, 0x2052545020445352   ; "RSD PTR "
.scan:
  cmp [rbx], rax
  je .found
  add rbx, 16
  cmp rbx, 0x100000
  jb .scan
  lea rsi, [rel msg_norsdp]
  call puts
  jmp .off
.found:
  lea rsi, [rel msg_rsdp]
  call puts
  lea rsi, [rbx + 9]      ; OEM ID, 6 bytes
  mov ecx, 6
.oem:
  lodsb
  call putc
  loop .oem
  lea rsi, [rel msg_xsdt]
  call puts
  mov rdi, [rbx + 24]     ; XSDT
  mov rdi, [rdi + 36]     ; its first entry
  mov ecx, 4
.tsig:
  mov al, [rdi]
  call putc
  inc rdi
  loop .tsig
  mov al, 10
  call putc
.off:
  mov dx, 0x604
  mov ax, (5 << 10) | (1 << 13)   ; SLP_TYP 5 (S5), SLP_EN
  out dx, ax
  hlt

PUTC
PUTS

msg_fw db "long mode: fw_cfg ", 0
msg_cpus db " cpus ", 0
msg_rsdp db "RSDP ", 0
msg_xsdt db " XSDT[0] ", 0
msg_norsdp db "no RSDP", 10, 0
