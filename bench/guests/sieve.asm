; sieve: N runs of the sieve of Eratosthenes over 0..8191 (one byte per
; number), each counting the primes; the checksum adds the counts and the
; remaining iteration counts.
%include "_boot.inc"
ARR     equ DATA
LIMIT   equ 8192
main:
        mov edx, [PARAMS]
        xor ebx, ebx
.outer: mov rDI, ARR
        mov ecx, LIMIT / 4
        mov eax, 0x01010101
.clear: mov [rDI], eax
        add rDI, 4
        dec ecx
        jnz .clear
        mov ecx, 2
.prime: mov eax, ecx
        imul eax, ecx
        cmp eax, LIMIT
        jae .count
        cmp byte [ARR + rCX], 0
        je .next
.mark:  mov byte [ARR + rAX], 0
        add eax, ecx
        cmp eax, LIMIT
        jb .mark
.next:  inc ecx
        jmp .prime
.count: mov ecx, 2
        xor eax, eax
.sum:   movzx esi, byte [ARR + rCX]
        add eax, esi
        inc ecx
        cmp ecx, LIMIT
        jb .sum
        FOLD_AND_REPEAT
%include "_end.inc"
