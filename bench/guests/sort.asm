; sort: N insertion sorts (unsigned) of the same 512 pseudo-random dwords
; (xorshift32 from seed 12345); after each sort one element, chosen by the
; remaining count, is added into the checksum.
%include "_boot.inc"
ARR     equ DATA
COUNT   equ 512
main:
        mov edx, [PARAMS]
        xor ebx, ebx
.outer: mov rDI, ARR
        mov ecx, COUNT
        mov eax, 12345
.fill:  mov esi, eax
        shl esi, 13
        xor eax, esi
        mov esi, eax
        shr esi, 17
        xor eax, esi
        mov esi, eax
        shl esi, 5
        xor eax, esi
        mov [rDI], eax
        add rDI, 4
        dec ecx
        jnz .fill
        mov ecx, 1
.insert: mov eax, [ARR + rCX * 4]       ; the key
        mov esi, ecx                     ; k: its slot, moving down
.shift: test esi, esi
        jz .place
        mov edi, [ARR - 4 + rSI * 4]
        cmp edi, eax
        jbe .place
        mov [ARR + rSI * 4], edi
        dec esi
        jmp .shift
.place: mov [ARR + rSI * 4], eax
        inc ecx
        cmp ecx, COUNT
        jb .insert
        mov eax, edx
        and eax, COUNT - 1
        add ebx, [ARR + rAX * 4]
        rol ebx, 3
        dec edx
        jnz .outer
        mov eax, ebx
        ret
%include "_end.inc"
