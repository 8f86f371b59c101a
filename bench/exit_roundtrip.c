/*
 * exit_roundtrip.c: the C reference for bench/exit_roundtrip.ts.
 *
 * Measures the time of one I/O-exit round trip through the kernel's KVM:
 * KVM_RUN enters the guest, the guest executes `out dx, al`, KVM returns
 * KVM_EXIT_IO to userspace, and the next KVM_RUN resumes the guest, which
 * jumps back to the `out`. Every KVM_RUN therefore returns exactly one exit.
 *
 * The guest and its mode are the ones bench/exit_roundtrip.ts sets up through
 * kvmkit, byte for byte:
 *   - 2 MiB of guest memory at guest-physical 0;
 *   - a GDT at 0x1000: null, 64-bit code (DPL 0), data (DPL 0),
 *     64-bit code (DPL 3), data (DPL 3);
 *   - identity page tables: PML4 at 0x2000, PDPT at 0x3000, PD at 0x4000
 *     with one 2 MiB page (present, writable, user);
 *   - the guest at 0x8000: EE (out dx, al) EB FD (jmp back to the out);
 *   - 64-bit long mode entered directly with KVM_SET_SREGS, at CPL 0 or at
 *     CPL 3 (cs/ss DPL 3, selectors with RPL 3, rflags IOPL = 3 so that the
 *     `out` is allowed at CPL 3); rdx = 0xe9, the port.
 *
 * Build and run (bench/exit_roundtrip.ts does this in a temporary directory):
 *   gcc -O2 -o exit_roundtrip_c bench/exit_roundtrip.c
 *   ./exit_roundtrip_c CPL EXITS REPS WARMUP      e.g. ./exit_roundtrip_c 0 20000 7 2000
 * It prints one line per repetition and, last, `median_ns_per_exit <value>`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x200000u /* 2 MiB of guest memory */
#define GDT_ADDR 0x1000u
#define PML4_ADDR 0x2000u
#define PDPT_ADDR 0x3000u
#define PD_ADDR 0x4000u
#define CODE_ADDR 0x8000u
#define IO_PORT 0xe9u

/* Prints what failed with errno's text and exits with status 1. */
static void fail(const char *what) {
  fprintf(stderr, "exit_roundtrip_c: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Returns CLOCK_MONOTONIC in nanoseconds. */
static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Orders doubles for qsort. */
static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Reads a positive integer argument or exits with a usage message. */
static long parse_arg(const char *text, const char *name) {
  char *end;
  long v = strtol(text, &end, 10);
  if (*end != '\0' || v < 0) {
    fprintf(stderr, "exit_roundtrip_c: %s must be a non-negative integer, got '%s'\n", name, text);
    exit(2);
  }
  return v;
}

/* Builds a flat segment register value for KVM_SET_SREGS. */
static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, uint8_t dpl, int code64) {
  struct kvm_segment s;
  memset(&s, 0, sizeof s);
  s.base = 0;
  s.limit = 0xffffffffu;
  s.selector = selector;
  s.type = type;     /* 11: code, execute/read, accessed; 3: data, read/write, accessed */
  s.present = 1;
  s.dpl = dpl;
  s.db = code64 ? 0 : 1; /* a 64-bit code segment has D = 0 */
  s.s = 1;               /* code or data, not a system segment */
  s.l = code64 ? 1 : 0;  /* L = 1: 64-bit code */
  s.g = 1;               /* limit in 4 KiB units */
  return s;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s CPL EXITS REPS WARMUP\n", argv[0]);
    return 2;
  }
  long cpl = parse_arg(argv[1], "CPL");
  long exits = parse_arg(argv[2], "EXITS");
  long reps = parse_arg(argv[3], "REPS");
  long warmup = parse_arg(argv[4], "WARMUP");
  if ((cpl != 0 && cpl != 3) || exits == 0 || reps == 0) {
    fprintf(stderr, "exit_roundtrip_c: CPL must be 0 or 3, EXITS and REPS at least 1\n");
    return 2;
  }

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) fail("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) fail("KVM_CREATE_VM");

  /* SAFETY: an anonymous private mapping that lives until the process exits;
     the kernel maps it into the guest through the memory slot below. */
  uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) fail("mmap guest memory");
  struct kvm_userspace_memory_region region = {
      .slot = 0, .flags = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) fail("KVM_SET_USER_MEMORY_REGION");

  /* GDT: the descriptors match the segment registers set below. */
  uint64_t *gdt = (uint64_t *)(mem + GDT_ADDR);
  gdt[0] = 0;                        /* 0x00: null */
  gdt[1] = 0x00af9b000000ffffull;    /* 0x08: 64-bit code, DPL 0 */
  gdt[2] = 0x00cf93000000ffffull;    /* 0x10: data, DPL 0 */
  gdt[3] = 0x00affb000000ffffull;    /* 0x18: 64-bit code, DPL 3 */
  gdt[4] = 0x00cff3000000ffffull;    /* 0x20: data, DPL 3 */

  /* Identity page tables: 0..2 MiB with one large page; U/S set for CPL 3. */
  *(uint64_t *)(mem + PML4_ADDR) = PDPT_ADDR | 0x7;  /* present, writable, user */
  *(uint64_t *)(mem + PDPT_ADDR) = PD_ADDR | 0x7;    /* present, writable, user */
  *(uint64_t *)(mem + PD_ADDR) = 0x0 | 0x87;         /* present, writable, user, 2 MiB page */

  /* The guest: out dx, al ; jmp short back to the out. */
  static const uint8_t guest[] = {0xee, 0xeb, 0xfd};
  memcpy(mem + CODE_ADDR, guest, sizeof guest);

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) fail("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < 0) fail("KVM_GET_VCPU_MMAP_SIZE");
  /* SAFETY: the vCPU's shared kvm_run page(s), valid while vcpu is open. */
  struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) fail("mmap kvm_run");

  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) fail("KVM_GET_SREGS");
  uint16_t rpl = (uint16_t)cpl;
  struct kvm_segment code = flat_segment((uint16_t)((cpl ? 0x18 : 0x08) | rpl), 11, (uint8_t)cpl, 1);
  struct kvm_segment data = flat_segment((uint16_t)((cpl ? 0x20 : 0x10) | rpl), 3, (uint8_t)cpl, 0);
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.gdt.base = GDT_ADDR;
  sregs.gdt.limit = 5 * 8 - 1;
  sregs.cr3 = PML4_ADDR;
  sregs.cr4 = 0x20;             /* PAE */
  sregs.cr0 = 0x80050033;       /* PG | AM | WP | NE | ET | MP | PE */
  sregs.efer = 0x500;           /* LMA | LME */
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) fail("KVM_SET_SREGS");

  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = CODE_ADDR;
  regs.rdx = IO_PORT;
  regs.rsp = MEM_SIZE - 0x1000;
  regs.rflags = cpl ? 0x3002 : 0x2; /* IOPL 3 lets CPL 3 execute `out`; bit 1 is always set */
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) fail("KVM_SET_REGS");

  /* One round trip: enter the guest, get exactly one I/O exit back. */
  long total = warmup + exits * reps;
  double *per_exit = calloc((size_t)reps, sizeof *per_exit);
  if (per_exit == NULL) fail("calloc");
  for (long i = 0; i < warmup; i++) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) fail("KVM_RUN");
    if (run->exit_reason != KVM_EXIT_IO) {
      fprintf(stderr, "exit_roundtrip_c: unexpected exit reason %u\n", run->exit_reason);
      return 1;
    }
  }
  for (long r = 0; r < reps; r++) {
    double t0 = now_ns();
    for (long i = 0; i < exits; i++) {
      if (ioctl(vcpu, KVM_RUN, 0) < 0) fail("KVM_RUN");
      if (run->exit_reason != KVM_EXIT_IO) {
        fprintf(stderr, "exit_roundtrip_c: unexpected exit reason %u\n", run->exit_reason);
        return 1;
      }
    }
    per_exit[r] = (now_ns() - t0) / (double)exits;
    printf("rep %ld: %.1f ns/exit\n", r + 1, per_exit[r]);
  }
  if (run->io.port != IO_PORT || run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1) {
    fprintf(stderr, "exit_roundtrip_c: the last exit was not `out 0xe9, al`\n");
    return 1;
  }
  qsort(per_exit, (size_t)reps, sizeof *per_exit, compare_doubles);
  double median = reps % 2 ? per_exit[reps / 2] : (per_exit[reps / 2 - 1] + per_exit[reps / 2]) / 2;
  printf("exits %ld\n", total);
  printf("median_ns_per_exit %.1f\n", median);
  free(per_exit);
  munmap(run, (size_t)run_size);
  close(vcpu);
  close(vm);
  close(kvm);
  munmap(mem, MEM_SIZE);
  return 0;
}
