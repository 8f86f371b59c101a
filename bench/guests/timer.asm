; timer: N interrupts of the local APIC timer (one-shot, 1000 ticks of the
; 1 GHz bus, vector 0x40), each awaited with STI; HLT; the handler writes EOI
; and returns with IRET. The LAPIC page (0xfee00000) is mapped uncached
; through page tables of its own.
%include "_boot.inc"
%include "_kernel.inc"
LAPIC       equ 0xfee00000
TIMER_VEC   equ 0x40
PT_APIC     equ 0x1d000                  ; the page table that maps the LAPIC
PD_APIC     equ 0x1f000                  ; (long mode) the page directory above it
main:
        mov eax, TIMER_VEC
        mov edx, timer_handler
        call set_gate
%if BITS64
        mov dword [PT_ROOT + 0x1000 + 3 * 8], PD_APIC + 3       ; PDPT[3]: 3-4 GiB
        mov dword [PD_APIC + 0x1f7 * 8], PT_APIC + 3            ; PD[0x1f7]: 0xfee00000
        mov dword [PT_APIC], LAPIC + 0x13                       ; present, writable, PCD
%else
        mov dword [PT_ROOT + 0x3fb * 4], PT_APIC + 3            ; PD[0x3fb]: 0xfec00000-0xfeffffff
        mov dword [PT_APIC + 0x200 * 4], LAPIC + 0x13           ; present, writable, PCD
        mov dword [PT_APIC + 0x200 * 4], LAPIC + 0x13           ; (again: as many instructions in both modes)
%endif
        mov esi, LAPIC                                          ; (a disp32 would be sign-extended in long mode)
        mov dword [rSI + 0xf0], 0x1ff                           ; SVR: APIC on, spurious vector 0xff
        mov dword [rSI + 0x3e0], 0xb                            ; TDCR: divide by 1
        mov dword [rSI + 0x320], TIMER_VEC                      ; LVTT: one-shot
        mov edx, [PARAMS]
        xor ebx, ebx
.loop:  mov dword [rSI + 0x380], 1000                           ; TMICT: 1 us
        sti
        hlt                                                     ; the timer's interrupt ends it
        cli
        add ebx, edx
        dec edx
        jnz .loop
        mov eax, ebx
        ret

timer_handler:
        mov dword [rSI + 0xb0], 0                               ; EOI
        IRET_NATIVE
%include "_end.inc"
