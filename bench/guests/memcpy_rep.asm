; memcpy_rep: memcpy_loop with `rep movsb` copying the 16 KiB.
%include "_boot.inc"
main:
        call fill_src
        mov edx, [PARAMS]
.outer: mov eax, edx
        and eax, SIZE / 4 - 1
        xor [SRC + rAX * 4], edx
        mov rSI, SRC
        mov rDI, DST
        mov ecx, SIZE
        rep movsb
        dec edx
        jnz .outer
        jmp fold_dst
%include "_buffers.inc"
%include "_end.inc"
