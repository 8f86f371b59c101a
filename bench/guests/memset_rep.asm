; memset_rep: memset_loop with `rep stosb` filling the 16 KiB (with the low
; byte of the value).
%include "_boot.inc"
main:
        mov edx, [PARAMS]
        xor ebx, ebx
.outer: add ebx, 0x9e3779b9
        mov eax, ebx
        mov rDI, DST
        mov ecx, SIZE
        rep stosb
        dec edx
        jnz .outer
        jmp fold_dst
%include "_buffers.inc"
%include "_end.inc"
