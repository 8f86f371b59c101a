; memset_loop: N fills of a 16 KiB buffer, one dword per four-instruction
; loop iteration, each fill with the next multiple of 0x9e3779b9.
%include "_boot.inc"
main:
        mov edx, [PARAMS]
        xor ebx, ebx
.outer: add ebx, 0x9e3779b9
        mov eax, ebx
        mov rDI, DST
        mov ecx, SIZE / 4
.fill:  mov [rDI], eax
        add rDI, 4
        dec ecx
        jnz .fill
        dec edx
        jnz .outer
        jmp fold_dst
%include "_buffers.inc"
%include "_end.inc"
