; A 64-bit guest for tests/emu/kvmclock_test.ts (tests/_support/long64.ts bench64, code at 0x4000): reads KVM's
; CPUID leaves, enables kvmclock (MSR_KVM_SYSTEM_TIME_NEW, its pvclock_vcpu_time_info at PVTI) and the wall clock
; (MSR_KVM_WALL_CLOCK_NEW at WALL), then reads the clock twice around a busy loop as Linux's pvclock_clocksource_read
; does: version (retried while odd or changed), RDTSC, system_time + ((tsc - tsc_timestamp) << shift) * mul >> 32.
; Each 32-bit value goes out to port 0xe9: the highest KVM leaf, its signature's first word, the features, then for
; each reading the clock's low and high halves and the TSC's.
bits 64
org 0x4000
PVTI equ 0x8000
WALL equ 0x8040
start:
  mov eax, 0x40000000       ; KVM_CPUID_SIGNATURE
  cpuid
  out 0xe9, eax
  mov eax, ebx
  out 0xe9, eax
  mov eax, 0x40000001       ; KVM_CPUID_FEATURES
  cpuid
  out 0xe9, eax
  mov ecx, 0x4b564d01       ; MSR_KVM_SYSTEM_TIME_NEW: address | enable
  mov eax, PVTI | 1
  xor edx, edx
  wrmsr
  mov ecx, 0x4b564d00       ; MSR_KVM_WALL_CLOCK_NEW
  mov eax, WALL
  wrmsr
  call report
  mov ecx, 200000
.spin:
  dec ecx
  jnz .spin
  call report
  hlt

; Reads the clock and puts out its halves and the TSC's.
report:
  call read_clock
  out 0xe9, eax
  shr rax, 32
  out 0xe9, eax
  mov rax, r8
  out 0xe9, eax
  shr rax, 32
  out 0xe9, eax
  ret

; rax = the kvmclock in ns, r8 = the TSC it was computed from.
read_clock:
  mov esi, [PVTI]           ; version
  test esi, 1
  jnz read_clock
  rdtsc
  shl rdx, 32
  or rax, rdx
  mov r8, rax
  sub rax, [PVTI + 8]       ; tsc_timestamp
  movsx ecx, byte [PVTI + 28] ; tsc_shift
  test ecx, ecx
  js .right
  shl rax, cl
  jmp .scale
.right:
  neg ecx
  shr rax, cl
.scale:
  mov edx, [PVTI + 24]      ; tsc_to_system_mul
  mul rdx                   ; rdx:rax = delta * mul
  shrd rax, rdx, 32
  add rax, [PVTI + 16]      ; system_time
  cmp esi, [PVTI]
  jne read_clock
  ret
