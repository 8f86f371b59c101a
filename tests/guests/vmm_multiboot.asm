; A multiboot (v1) ELF kernel for tests/vmm/guests_test.ts: checks the magic in eax, prints its command
; line, each module's string and contents, the RAM the memory map calls usable and mem_upper, then
; exits through isa-debug-exit at 0xf4 with 0x21 (status 0x43).
; Build, from the repository root (tools/assemble.ts makes flat .bin files, not this ELF):
;   nasm -f elf32 -i tests/guests/ -o /tmp/vmm_multiboot.o tests/guests/vmm_multiboot.asm
;   ld -m elf_i386 -Ttext=0x100000 -e start -o tests/guests/vmm_multiboot.elf /tmp/vmm_multiboot.o
bits 32
%include "_console.inc"
section .text
align 4
  dd 0x1badb002           ; magic
  dd 0x00000003           ; page-align modules, memory information
  dd -(0x1badb002 + 3)    ; checksum

global start
start:
  mov esp, stack_top
  mov ebp, ebx
  cmp eax, 0x2badb002
  je .magic_ok
  mov esi, msg_badmagic
  call puts
  jmp .exit
.magic_ok:
  mov esi, msg_cmdline
  call puts
  mov esi, [ebp + 16]
  call puts
  call newline
  mov esi, msg_mods
  call puts
  mov eax, [ebp + 20]
  call puthex
  call newline
  mov ebx, [ebp + 24]     ; mods_addr
  mov edi, [ebp + 20]     ; mods_count
.module:
  test edi, edi
  jz .mmap
  mov esi, [ebx + 8]      ; its string
  call puts
  mov al, ':'
  call putc
  mov esi, [ebx]          ; mod_start
  mov ecx, [ebx + 4]      ; mod_end
.content:
  cmp esi, ecx
  jae .next
  lodsb
  call putc
  jmp .content
.next:
  add ebx, 16
  dec edi
  jmp .module
.mmap:
  mov esi, [ebp + 48]     ; mmap_addr
  mov edi, esi
  add edi, [ebp + 44]     ; + mmap_length
  xor edx, edx
.entry:
  cmp esi, edi
  jae .sum
  cmp dword [esi + 20], 1 ; usable RAM
  jne .skip
  add edx, [esi + 12]     ; length, low half
.skip:
  add esi, [esi]          ; size excludes itself
  add esi, 4
  jmp .entry
.sum:
  mov esi, msg_ram
  call puts
  mov eax, edx
  call puthex
  mov esi, msg_upper
  call puts
  mov eax, [ebp + 8]
  call puthex
  call newline
.exit:
  mov al, 0x21
  out 0xf4, al
  hlt

newline:
  mov al, 10              ; and on into putc
PUTC
PUTS

puthex:                   ; eax as 8 hex digits
  push ecx
  mov ecx, 8
.digit:
  rol eax, 4
  push eax
  PUT_HEX_DIGIT
  pop eax
  loop .digit
  pop ecx
  ret

section .data
msg_badmagic db "bad multiboot magic", 10, 0
msg_cmdline db "cmdline: ", 0
msg_mods db "mods: ", 0
msg_ram db "usable RAM: ", 0
msg_upper db " mem_upper KiB: ", 0

section .bss
align 16
stack: resb 4096
stack_top:
