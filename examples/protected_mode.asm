; protected_mode.asm: a flat 32-bit protected-mode guest for
; examples/protected_mode.ts.
;
; The host loads these bytes at guest-physical 0x8000 and enters 32-bit
; protected mode directly through KVM_SET_SREGS (cr0.PE = 1, paging off,
; flat 4 GiB code and data segments, CPL 0), with
;   esi = guest-physical address of the input buffer
;   ecx = length of the buffer in bytes
; The guest computes the 32-bit FNV-1a hash of the buffer, writes it to
; port 0xe9 with one 32-bit `out`, and halts.
;
; FNV-1a (32 bit): h = 0x811c9dc5; for each byte b: h = (h ^ b) * 0x01000193.
;
; Assemble: nasm -f bin -o protected_mode.bin protected_mode.asm

bits 32                         ; 32-bit code segment (cs.db = 1)
org 0x8000                      ; where the host places this code

start:
    mov eax, 0x811c9dc5         ; eax = h = the FNV-1a 32-bit offset basis
    mov edi, 0x01000193         ; edi = the FNV-1a 32-bit prime
    test ecx, ecx               ; an empty buffer?
    jz report                   ; then the hash is the offset basis
next:
    movzx edx, byte [esi]       ; edx = the next byte of the buffer
    xor eax, edx                ; h = h ^ byte
    imul eax, edi               ; h = h * prime (mod 2^32)
    inc esi                     ; advance to the following byte
    dec ecx                     ; one byte fewer to go
    jnz next                    ; loop until every byte is hashed
report:
    mov dx, 0xe9                ; dx = the result port
    out dx, eax                 ; write the 32-bit hash (one io exit, size 4)
    hlt                         ; stop: the host sees a hlt exit
