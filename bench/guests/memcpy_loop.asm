; memcpy_loop: N copies of a 16 KiB buffer, one dword per six-instruction
; loop iteration. Before each copy one source dword is changed (xor with
; the remaining count), so the result depends on every iteration.
; memcpy_rep.asm includes this file with REP_MOVSB defined: the same copies
; by `rep movsb`.
%include "_boot.inc"
main:
        call fill_src
        mov edx, [PARAMS]
.outer: mov eax, edx
        and eax, SIZE / 4 - 1
        xor [SRC + rAX * 4], edx
        mov rSI, SRC
        mov rDI, DST
%ifdef REP_MOVSB
        mov ecx, SIZE
        rep movsb
%else
        mov ecx, SIZE / 4
.copy:  mov eax, [rSI]
        mov [rDI], eax
        add rSI, 4
        add rDI, 4
        dec ecx
        jnz .copy
%endif
        REPEAT_THEN_FOLD_DST
%include "_buffers.inc"
%include "_end.inc"
