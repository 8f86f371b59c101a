; alu: N iterations of eight integer instructions (add, xor, rol, imul,
; add, sub, dec, jnz) on registers only.
%include "_boot.inc"
main:
        mov ecx, [PARAMS]
        mov eax, 0x12345678
        mov edx, 0x9abcdef0
        mov ebx, 1
.loop:  add eax, edx
        xor edx, eax
        rol eax, 7
        imul ebx, ebx, 16777619
        add ebx, eax
        sub edx, ecx
        dec ecx
        jnz .loop
        xor eax, edx
        xor eax, ebx
        ret
%include "_end.inc"
