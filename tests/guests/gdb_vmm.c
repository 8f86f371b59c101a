/*
 * A guest for debugging the kvmkit command under gdb (tests/gdb/cli_test.ts):
 * it prints through COM1, sums the squares below 10 in a function worth a
 * breakpoint, prints the sum, and returns an exit code. Build (32-bit
 * multiboot, with symbols; the header must lie in the file's first 8 KiB):
 *
 *   gcc -m32 -Og -g -fno-inline -ffreestanding -nostdlib -static -fno-pic -fno-pie \
 *     -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none \
 *     -no-pie -Wl,--build-id=none -Wl,-Ttext=0x100000 -Wl,-z,noseparate-code \
 *     -Wl,--no-warn-rwx-segments gdb_vmm_start.S gdb_vmm.c -o gdb_vmm.elf
 */
#define COM1 0x3f8

static inline void outb(unsigned short port, unsigned char v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

static void puts(const char *s) {
  while (*s) outb(COM1, (unsigned char)*s++);
}

static void put_u32(unsigned v) {
  char buf[12];
  int n = 0;
  do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) outb(COM1, (unsigned char)buf[--n]);
}

/* Counted by the test from gdb: it must be 0 before the loop and 10 after it. */
unsigned calls;

unsigned square(unsigned x) {
  calls++;
  return x * x;
}

unsigned sum_of_squares(unsigned n) {
  unsigned total = 0;
  for (unsigned i = 0; i < n; i++) total += square(i);
  return total;
}

int main(void) {
  puts("gdb guest: hello\n");
  unsigned sum = sum_of_squares(10);
  puts("gdb guest: sum ");
  put_u32(sum);
  puts("\n");
  return sum == 285 ? 5 : 6;
}
