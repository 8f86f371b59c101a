; syscall: N system calls from user mode (CPL 3) to a small handler and back:
; SYSCALL/SYSRET in long mode, SYSENTER/SYSEXIT in protected mode (where
; Intel CPUs have no SYSCALL). The handler mixes the argument in eax; user
; mode adds the results. A last call with eax = 0 returns to main.
%include "_boot.inc"
%include "_kernel.inc"
main:
        call make_user_low
        lgdt [kgdtr]
%if BITS64
        mov ecx, 0xc0000080              ; EFER.SCE
        rdmsr
        or eax, 1
        wrmsr
        mov ecx, 0xc0000081              ; STAR: SYSCALL CS 0x18, SYSRET base 0x28
        xor eax, eax
        mov edx, 0x00280018
        wrmsr
        mov ecx, 0xc0000082              ; LSTAR
        mov eax, sys_entry
        xor edx, edx
        wrmsr
        mov ecx, 0xc0000084              ; FMASK: nothing cleared (IF is already 0)
        xor eax, eax
        xor edx, edx
        wrmsr
%else
        mov ecx, 0x174                   ; SYSENTER_CS
        mov eax, 0x08
        xor edx, edx
        wrmsr
        mov ecx, 0x175                   ; SYSENTER_ESP
        mov eax, STACK_TOP - 0x1000
        xor edx, edx
        wrmsr
        mov ecx, 0x176                   ; SYSENTER_EIP
        mov eax, sys_entry
        xor edx, edx
        wrmsr
        mov ecx, 0x174                   ; (again: both modes run as many instructions)
        mov eax, 0x08
        xor edx, edx
        wrmsr
%endif
        mov [KSTACK_SAVE], rSP
        mov esi, [PARAMS]
        xor ebx, ebx
%if BITS64
        mov ecx, user_loop               ; SYSRET: RIP from RCX, RFLAGS from R11
        mov r11d, 2
        o64 sysret
%else
        mov edx, user_loop               ; SYSEXIT: EIP from EDX, ESP from ECX
        mov ecx, STACK_TOP - 0x2000
        sysexit
%endif

user_loop:
        mov eax, esi
        mov edx, user_back               ; where SYSEXIT returns (unused by SYSRET)
        mov ecx, STACK_TOP - 0x2000      ; the user stack for SYSEXIT (SYSCALL overwrites RCX)
%if BITS64
        syscall
%else
        sysenter
%endif
user_back:
        add ebx, eax
        dec esi
        jnz user_loop
        xor eax, eax
%if BITS64
        syscall
%else
        sysenter
%endif

sys_entry:
        test eax, eax
        jz .exit
        imul eax, eax, 0x9e3779b1
        xor eax, 0x5a5a5a5a
%if BITS64
        o64 sysret
%else
        sysexit
%endif
.exit:  mov rSP, [KSTACK_SAVE]
        mov eax, ebx
        ret

%include "_end.inc"
