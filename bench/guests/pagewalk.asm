; pagewalk: N passes over the 3072 pages from 4 MiB to 16 MiB (paging on,
; 4 KiB pages), each pass reading, adding to and writing back one dword per
; page at an offset that changes with the pass: every access is to another
; page, so any TLB smaller than 3072 entries misses on every access.
%include "_boot.inc"
WALK    equ 0x400000
PAGES   equ (RAM_TOP - WALK) >> 12
main:
        mov edx, [PARAMS]
        xor ebx, ebx
.outer: mov eax, edx
        and eax, 1023
        lea rSI, [WALK + rAX * 4]
        mov ecx, PAGES
.page:  mov eax, [rSI]
        add eax, edx
        add eax, ecx
        mov [rSI], eax
        add ebx, eax
        add rSI, 4096
        dec ecx
        jnz .page
        rol ebx, 1
        dec edx
        jnz .outer
        mov eax, ebx
        ret
%include "_end.inc"
