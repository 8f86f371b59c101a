; fib: N computations of fib(20) by naive recursion (21891 calls each, 20
; deep); the checksum adds the results and the remaining iteration counts.
%include "_boot.inc"
FIB_N   equ 20
main:
        mov edx, [PARAMS]
        xor ebx, ebx
.outer: mov ecx, FIB_N
        call fib
        FOLD_AND_REPEAT
; eax = fib(ecx); clobbers ecx and esi.
fib:    cmp ecx, 2
        jb .leaf
        push rCX
        dec ecx
        call fib
        pop rCX
        push rAX
        sub ecx, 2
        call fib
        pop rSI
        add eax, esi
        ret
.leaf:  mov eax, ecx
        ret
%include "_end.inc"
