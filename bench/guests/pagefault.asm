; pagefault: N passes over 64 pages that are not present: each first touch
; raises #PF, whose handler maps the page (CR2 to the page-table entry) and
; returns with IRET; the access then runs again. After a pass the pages are
; unmapped again, each with INVLPG. Each touch adds the page's first dword to
; the checksum and writes the pass number there.
%include "_boot.inc"
%include "_kernel.inc"
PF_BASE     equ 0x800000                 ; 8 MiB
PF_PAGES    equ 64
%if BITS64
%define PTE(r) PT_ROOT + 0x3000 + r * 8
%else
%define PTE(r) PT_ROOT + 0x1000 + r * 4
%endif
main:
        mov eax, 14
        mov edx, pf_handler
        call set_gate
        call unmap_all
        mov edx, [PARAMS]
        xor ebx, ebx
.outer: mov rDI, PF_BASE
        mov ecx, PF_PAGES
.touch: add ebx, [rDI]                   ; #PF: mapped by the handler, then run again
        mov [rDI], edx
        add rDI, 4096
        dec ecx
        jnz .touch
        call unmap_all
        dec edx
        jnz .outer
        mov eax, ebx
        ret

; Clears the PTEs of the 64 pages and invalidates each page's TLB entry.
unmap_all:
        mov rDI, PF_BASE
        mov ecx, PF_PAGES
.u:     mov eax, edi
        shr eax, 12
        mov dword [PTE(rAX)], 0
        invlpg [rDI]
        add rDI, 4096
        dec ecx
        jnz .u
        ret

; #PF: maps the faulting page (identity, present and writable).
pf_handler:
        push rAX
        mov rAX, cr2
        shr eax, 12
        push rDX
        mov edx, eax
        shl edx, 12
        or edx, 3
        mov [PTE(rAX)], edx
        pop rDX
        pop rAX
        add rSP, (BITS64 + 1) * 4         ; the error code
        IRET_NATIVE
%include "_end.inc"
