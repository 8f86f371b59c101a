; A real-mode guest for tests/vmm/pci_test.ts (kvmkit run --flat --mode real --at 0x7c00 --debug-exit 0xf4): probes
; PCI configuration mechanism #1 as Linux's pci_check_type1 and pci_sanity_check do, and exits through
; isa-debug-exit with 1 (status 3) when every answer is right, else with the number of the failed check (status
; 2n + 1): CONFIG_ADDRESS reads back what was written (2), 00:00.0 is 8086:1237 (3), its class is a host bridge (4),
; device 1 is absent (5), a byte of CONFIG_ADDRESS is not CONFIG_ADDRESS (6).
bits 16
org 0x7c00
start:
  mov bl, 2
  mov dx, 0xcf8
  mov eax, 0x80000000       ; enable, bus 0, device 0, function 0, register 0
  out dx, eax
  in eax, dx
  cmp eax, 0x80000000
  jne fail
  inc bl
  mov dx, 0xcfc
  in eax, dx                ; vendor and device ID
  cmp eax, 0x12378086
  jne fail
  inc bl
  mov dx, 0xcf8
  mov eax, 0x80000008       ; register 8: revision, programming interface, subclass, class
  out dx, eax
  mov dx, 0xcfe
  in ax, dx                 ; the class code's upper word through the window's third byte
  cmp ax, 0x0600
  jne fail
  inc bl
  mov dx, 0xcf8
  mov eax, 0x80000800       ; device 1, register 0
  out dx, eax
  mov dx, 0xcfc
  in eax, dx
  cmp eax, 0xffffffff
  jne fail
  inc bl
  mov dx, 0xcfb
  mov al, 0
  out dx, al                ; a byte write leaves CONFIG_ADDRESS alone
  mov dx, 0xcf8
  in eax, dx
  cmp eax, 0x80000800
  jne fail
  mov bl, 1
fail:
  mov al, bl
  out 0xf4, al
  hlt
