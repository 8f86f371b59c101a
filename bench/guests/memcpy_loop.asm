; memcpy_loop: N copies of a 16 KiB buffer, one dword per six-instruction
; loop iteration. Before each copy one source dword is changed (xor with
; the remaining count), so the result depends on every iteration.
%include "_boot.inc"
main:
        call fill_src
        mov edx, [PARAMS]
.outer: mov eax, edx
        and eax, SIZE / 4 - 1
        xor [SRC + rAX * 4], edx
        mov rSI, SRC
        mov rDI, DST
        mov ecx, SIZE / 4
.copy:  mov eax, [rSI]
        mov [rDI], eax
        add rSI, 4
        add rDI, 4
        dec ecx
        jnz .copy
        dec edx
        jnz .outer
        jmp fold_dst
%include "_buffers.inc"
%include "_end.inc"
