; memset_loop: N fills of a 16 KiB buffer, one dword per four-instruction
; loop iteration, each fill with the next multiple of 0x9e3779b9.
; memset_rep.asm includes this file with REP_STOSB defined: the same fills
; by `rep stosb` (with the low byte of the value).
%include "_boot.inc"
main:
        mov edx, [PARAMS]
        xor ebx, ebx
.outer: add ebx, 0x9e3779b9
        mov eax, ebx
        mov rDI, DST
%ifdef REP_STOSB
        mov ecx, SIZE
        rep stosb
%else
        mov ecx, SIZE / 4
.fill:  mov [rDI], eax
        add rDI, 4
        dec ecx
        jnz .fill
%endif
        REPEAT_THEN_FOLD_DST
%include "_buffers.inc"
%include "_end.inc"
