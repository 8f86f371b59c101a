/*
 * Host oracle for tests/emu/sse/vectors.txt (see tools/sse_vectors.py): runs
 * each stub of a flat binary (prologue, one instruction, epilogue) on the
 * host CPU against a state block and prints the state after it.
 *
 * Input on stdin, per case: "<stub offset> <xmm0> <xmm1> <xmm2> <mxcsr> <eax> <ecx> <edx> <flags>"
 * (xmm as 32 hex digits, most significant first; numbers in hex).
 * Output per case: "<xmm0> <xmm1> <xmm2> <mxcsr> <eax> <ecx> <edx> <flags> <mem> <rax, rcx, rdx high halves>".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct state {
  uint8_t xmm[8][16];  /* 0 */
  uint32_t mxcsr;      /* 128 */
  uint32_t eax, ecx, edx; /* 132 136 140 */
  uint64_t flags;      /* 144 */
  uint64_t pad;        /* 152 */
  uint8_t mem[64];     /* 160 */
  uint32_t hi[3];      /* 224: the high halves of rax, rcx, rdx */
} __attribute__((aligned(16)));

static void parse(const char *h, uint8_t *b) {
  for (int i = 0; i < 16; i++) {
    unsigned v;
    sscanf(h + 2 * i, "%2x", &v);
    b[15 - i] = (uint8_t)v;
  }
}
static void show(const uint8_t *b) {
  for (int i = 15; i >= 0; i--) printf("%02x", b[i]);
}

int main(int argc, char **argv) {
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 1;
  uint8_t *code = mmap(0, 1 << 20, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  size_t n = fread(code, 1, 1 << 20, f);
  (void)n;
  fclose(f);
  unsigned off, mx, a, c, d, fl;
  char x0[40], x1[40], x2[40];
  static struct state s;
  while (scanf("%x %32s %32s %32s %x %x %x %x %x", &off, x0, x1, x2, &mx, &a, &c, &d, &fl) == 9) {
    memset(&s, 0, sizeof s);
    parse(x0, s.xmm[0]);
    parse(x1, s.xmm[1]);
    parse(x2, s.xmm[2]);
    memcpy(s.mem, s.xmm[2], 16);
    s.mxcsr = mx;
    s.eax = a;
    s.ecx = c;
    s.edx = d;
    s.flags = fl;
    ((void (*)(struct state *))(code + off))(&s);
    show(s.xmm[0]);
    putchar(' ');
    show(s.xmm[1]);
    putchar(' ');
    show(s.xmm[2]);
    printf(" %x %x %x %x %x ", s.mxcsr, s.eax, s.ecx, s.edx, (unsigned)s.flags & 0x8d5);
    show(s.mem);
    printf(" %x %x %x", s.hi[0], s.hi[1], s.hi[2]);
    putchar('\n');
  }
  return 0;
}
