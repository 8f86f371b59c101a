; mpi: the Linux kernel's multi-precision loops, as its RSA signature check
; runs them at boot (lib/crypto/mpi: mpihelp_submul_1 and mpihelp_addmul_1).
; Two 2 KiB numbers, RES and S1 (512 dwords of xorshift32 from seed 12345,
; S1 first); every iteration subtracts S1 * a from RES in 8 calls of
; submul_1 over 256-byte chunks (32 limbs of 64 bits, an RSA-2048 modulus,
; as mpihelp_divrem calls it), then adds S1 * b in 16 calls of addmul_1 over
; 128-byte chunks (16 limbs, as the multiplication's base case calls it),
; a = N' * 0x9e3779b1 and b = a >> 1 (N' the iterations remaining, 32 bits).
; The checksum adds each call's borrow or carry and one dword of RES (chosen
; by N'), then ebx = rol(ebx, 3).
;
; 64-bit: copies of the two functions as a Linux 6.1 x86-64 build compiles
; them (generic umul_ppmm: four IMUL r64, r/m64 of 32-bit halves, then
; ADD/ADC/CMP/CMOVAE/SETB; loops of 38 and 37 instructions a limb; the
; __fentry__ call and the return thunk left out). 32-bit: 32-bit limbs, the
; i386 form whose umul_ppmm is MUL r/m32, with a memory-destination SUB or
; ADD (9 instructions a limb). The multipliers fit in 32 bits, so both
; modes compute the same numbers and the same checksum.
%include "_boot.inc"
S1      equ DATA                         ; 0x100000
RES     equ DATA + 0x800                 ; 0x100800: right after S1
DWORDS  equ 512
SUB_LIMBS equ 32                         ; 64-bit limbs a call of submul_1 (RSA-2048's modulus)
ADD_LIMBS equ 16                         ; and of addmul_1

main:
        mov rDI, S1
        mov ecx, DWORDS * 2              ; S1, then RES
        mov eax, 12345
.fill:  mov esi, eax
        shl esi, 13
        xor eax, esi
        mov esi, eax
        shr esi, 17
        xor eax, esi
        mov esi, eax
        shl esi, 5
        xor eax, esi
        mov [rDI], eax
        add rDI, 4
        dec ecx
        jnz .fill
        xor ebx, ebx
%if BITS64
        mov r15d, [PARAMS]
.outer: imul ebp, r15d, 0x9e3779b1      ; a
        xor r12d, r12d                   ; the chunk's byte offset
.sub:   lea rdi, [RES + r12]
        lea rsi, [S1 + r12]
        mov edx, SUB_LIMBS
        mov ecx, ebp
        call submul_1
        add ebx, eax
        add r12d, SUB_LIMBS * 8
        cmp r12d, DWORDS * 4
        jne .sub
        shr ebp, 1                       ; b
        xor r12d, r12d
.add:   lea rdi, [RES + r12]
        lea rsi, [S1 + r12]
        mov edx, ADD_LIMBS
        mov ecx, ebp
        call addmul_1
        add ebx, eax
        add r12d, ADD_LIMBS * 8
        cmp r12d, DWORDS * 4
        jne .add
        mov eax, r15d
        and eax, DWORDS - 1
        add ebx, [RES + rax * 4]
        rol ebx, 3
        dec r15d
        jnz .outer
        mov eax, ebx
        ret

; rax = mpihelp_addmul_1(res rdi, s1 rsi, size edx, limb rcx): res += s1 * limb
; over `size` limbs; the carry out.
addmul_1:
        mov r10, rdi
        mov edi, edx
        mov r9, rcx
        push r14
        neg edi
        push r13
        mov r11, rsi
        shr r9, 32
        movsxd rax, edi
        push r12
        mov r8d, ecx
        xor esi, esi
        push rbp
        mov rbp, rax
        push rbx
        mov rbx, 0x100000000
        jmp .first
.loop:  movsxd rax, edi
.first: sub rax, rbp
        mov rcx, [r11 + rax * 8]
        lea r12, [rax * 8]
        mov rdx, rcx
        mov ecx, ecx
        shr rdx, 32
        mov rax, rcx
        imul rax, r8
        mov r13, rdx
        imul r13, r8
        imul rcx, r9
        imul rdx, r9
        mov r14, rax
        mov eax, eax
        shr r14, 32
        add rcx, r13
        add rcx, r14
        mov r14, rdx
        add rdx, rbx
        cmp rcx, r13
        mov r13, rcx
        cmovae rdx, r14
        add rax, rsi
        shl r13, 32
        add rax, r13
        cmp rax, rsi
        setb sil
        add r12, r10
        shr rcx, 32
        movzx esi, sil
        add rax, [r12]
        adc rsi, rcx
        mov [r12], rax
        add rsi, rdx
        add edi, 1
        jnz .loop
        pop rbx
        mov rax, rsi
        pop rbp
        pop r12
        pop r13
        pop r14
        ret

; rax = mpihelp_submul_1(res rdi, s1 rsi, size edx, limb rcx): res -= s1 * limb
; over `size` limbs; the borrow out.
submul_1:
        neg edx
        mov r10, rcx
        push r14
        mov r11, rdi
        movsxd rax, edx
        push r13
        shr r10, 32
        mov r9d, ecx
        push r12
        mov r8, rax
        mov r12, rax
        push rbp
        mov rbp, 0x100000000
        push rbx
        mov rbx, rsi
        xor esi, esi
        jmp .first
.loop:  movsxd rax, r8d
.first: sub rax, r12
        mov rcx, [rbx + rax * 8]
        lea rdi, [rax * 8]
        mov rdx, rcx
        mov ecx, ecx
        shr rdx, 32
        mov rax, rcx
        imul rax, r9
        mov r13, rdx
        imul r13, r9
        imul rcx, r10
        imul rdx, r10
        mov r14, rax
        mov eax, eax
        shr r14, 32
        add rcx, r13
        add rcx, r14
        mov r14, rdx
        add rdx, rbp
        cmp rcx, r13
        mov r13, rcx
        cmovae rdx, r14
        add rax, rsi
        shl r13, 32
        add rax, r13
        cmp rax, rsi
        setb sil
        add rdi, r11
        shr rcx, 32
        mov r13, [rdi]
        movzx esi, sil
        sub r13, rax
        adc rsi, rcx
        mov [rdi], r13
        add rsi, rdx
        add r8d, 1
        jne .loop
        pop rbx
        mov rax, rsi
        pop rbp
        pop r12
        pop r13
        pop r14
        ret
%else
        mov edx, [PARAMS]
.outer: push edx
        imul ebp, edx, 0x9e3779b1       ; a
        push 0                           ; the chunk's byte offset
.sub:   mov eax, [esp]
        lea edi, [RES + eax]
        lea esi, [S1 + eax]
        mov ecx, SUB_LIMBS * 2
        call submul_1
        add ebx, eax
        add dword [esp], SUB_LIMBS * 8
        cmp dword [esp], DWORDS * 4
        jne .sub
        shr ebp, 1                       ; b
        mov dword [esp], 0
.add:   mov eax, [esp]
        lea edi, [RES + eax]
        lea esi, [S1 + eax]
        mov ecx, ADD_LIMBS * 2
        call addmul_1
        add ebx, eax
        add dword [esp], ADD_LIMBS * 8
        cmp dword [esp], DWORDS * 4
        jne .add
        pop eax
        pop edx
        mov eax, edx
        and eax, DWORDS - 1
        add ebx, [RES + eax * 4]
        rol ebx, 3
        dec edx
        jnz .outer
        mov eax, ebx
        ret

; eax = submul_1(res edi, s1 esi, size ecx, limb ebp): res -= s1 * limb over
; `size` limbs; the borrow out. Keeps ebx and ebp.
submul_1:
        push ebx
        lea esi, [esi + ecx * 4]
        lea edi, [edi + ecx * 4]
        neg ecx
        xor ebx, ebx
.loop:  mov eax, ebp
        mul dword [esi + ecx * 4]
        add eax, ebx
        adc edx, 0
        mov ebx, edx
        sub [edi + ecx * 4], eax
        adc ebx, 0
        inc ecx
        jnz .loop
        mov eax, ebx
        pop ebx
        ret

; eax = addmul_1(res edi, s1 esi, size ecx, limb ebp): res += s1 * limb over
; `size` limbs; the carry out. Keeps ebx and ebp.
addmul_1:
        push ebx
        lea esi, [esi + ecx * 4]
        lea edi, [edi + ecx * 4]
        neg ecx
        xor ebx, ebx
.loop:  mov eax, ebp
        mul dword [esi + ecx * 4]
        add eax, ebx
        adc edx, 0
        mov ebx, edx
        add [edi + ecx * 4], eax
        adc ebx, 0
        inc ecx
        jnz .loop
        mov eax, ebx
        pop ebx
        ret
%endif
%include "_end.inc"
