; long_mode.asm: a 64-bit long-mode guest for examples/long_mode.ts.
;
; The host loads these bytes at guest-physical 0x8000, builds identity page
; tables and a GDT, and enters 64-bit mode directly through KVM_SET_SREGS
; (cr0.PE|PG, cr4.PAE, efer.LME|LMA, a code segment with l = 1, CPL 0), with
;   rsi = guest address of the input buffer
;   rcx = length of the buffer in bytes
; The guest computes the 64-bit FNV-1a hash of the buffer, writes it to
; port 0xe9 as two 32-bit `out`s (low half first; `out` carries at most
; 4 bytes), and halts.
;
; FNV-1a (64 bit): h = 0xcbf29ce484222325; for each byte b:
;                  h = (h ^ b) * 0x00000100000001b3.
;
; Assemble: nasm -f bin -o long_mode.bin long_mode.asm

bits 64                         ; 64-bit code segment (cs.l = 1)
org 0x8000                      ; where the host places this code

start:
    mov rax, 0xcbf29ce484222325 ; rax = h = the FNV-1a 64-bit offset basis
    mov rdi, 0x00000100000001b3 ; rdi = the FNV-1a 64-bit prime
    test rcx, rcx               ; an empty buffer?
    jz report                   ; then the hash is the offset basis
next:
    movzx edx, byte [rsi]       ; rdx = the next byte (upper bits cleared)
    xor rax, rdx                ; h = h ^ byte
    imul rax, rdi               ; h = h * prime (mod 2^64)
    inc rsi                     ; advance to the following byte
    dec rcx                     ; one byte fewer to go
    jnz next                    ; loop until every byte is hashed
report:
    mov rbx, rax                ; keep the full hash in rbx
    mov dx, 0xe9                ; dx = the result port
    out dx, eax                 ; write bits 0..31 of the hash (one io exit)
    shr rax, 32                 ; bring bits 32..63 down into eax
    out dx, eax                 ; write bits 32..63 of the hash (one io exit)
    hlt                         ; stop: the host sees a hlt exit
