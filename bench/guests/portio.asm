; portio: N iterations of `out 0x80, al` (an I/O exit to the host for
; kvmkit; QEMU handles port 0x80 itself) and three register instructions.
%include "_boot.inc"
main:
        mov ecx, [PARAMS]
        xor eax, eax
.loop:  out 0x80, al
        add eax, ecx
        dec ecx
        jnz .loop
        ret
%include "_end.inc"
