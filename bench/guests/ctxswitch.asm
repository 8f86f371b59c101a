; ctxswitch: two tasks that switch to each other N times each, the way a
; kernel's scheduler does: the running task's state goes on its own stack as
; an IRET frame, the stack pointers are exchanged, CR3 is reloaded with the
; other task's page-table root (flushing the TLB), and IRET (IRETQ) resumes
; the other task. Task A adds its counter to ebx, task B rotates ebx.
%include "_boot.inc"
%include "_kernel.inc"
OTHER_SP    equ 0x608                    ; the stack pointer of the task not running
STACK_B     equ STACK_TOP - 0x4000       ; task B's stack
main:
        call make_second_root
        mov rDI, STACK_B                 ; task B's first IRET frame, to task_b
%if BITS64
        sub rdi, 40
        mov qword [rdi], task_b
        mov qword [rdi + 8], 0x18
        mov qword [rdi + 16], 2
        mov qword [rdi + 24], STACK_B
        mov qword [rdi + 32], 0x10
%else
        sub edi, 12
        mov dword [edi], task_b
        mov dword [edi + 4], 0x08
        mov dword [edi + 8], 2
        nop
        nop
%endif
        mov [OTHER_SP], rDI
        mov edx, [PARAMS]
        xor ebx, ebx
.loop:  add ebx, edx
        call switch
        dec edx
        jnz .loop
        mov eax, ebx
        ret

task_b:
.b:     rol ebx, 3
        call switch
        jmp .b

; Resumes the other task; the caller resumes at its return address when the
; other task switches back.
switch:
        pop rAX                          ; where the caller resumes
%if BITS64
        mov r8, rsp
        push 0x10                        ; SS
        push r8                          ; RSP
        pushfq
        push 0x18                        ; CS
        push rax                         ; RIP
%else
        nop
        nop
        nop
        pushfd
        push 0x08                        ; CS
        push eax                         ; EIP
%endif
        xchg rSP, [OTHER_SP]
        mov rAX, cr3
        xor eax, PT_ROOT ^ PT_ROOT_B
        mov cr3, rAX
        IRET_NATIVE

; A second page-table root mapping what the first maps: its top-level
; entries copied (long mode: PML4 entries 0 and 1; protected mode: the four
; page-directory entries of 16 MiB).
make_second_root:
        mov eax, [PT_ROOT]
        mov [PT_ROOT_B], eax
        mov eax, [PT_ROOT + 4]
        mov [PT_ROOT_B + 4], eax
        mov eax, [PT_ROOT + 8]
        mov [PT_ROOT_B + 8], eax
        mov eax, [PT_ROOT + 12]
        mov [PT_ROOT_B + 12], eax
        ret
%include "_end.inc"
