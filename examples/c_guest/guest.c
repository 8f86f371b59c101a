/*
 * A freestanding C program for kvmkit's C-guest example: a hash of a
 * buffer, a sort, and floating-point math in double and long double (x87).
 * It prints through port 0xe9 and returns a status that start.S reports on
 * port 0xea. Built by build.sh with gcc -ffreestanding -nostdlib.
 */
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

static inline void outb(unsigned short port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

static void putc(char c) { outb(0xe9, (u8)c); }
static void puts(const char *s) { while (*s) putc(*s++); }

static void put_u64(u64 v) {
  char buf[24];
  int n = 0;
  do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) putc(buf[--n]);
}

static void put_hex(u64 v, int digits) {
  for (int i = digits - 1; i >= 0; i--) putc("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static void put_i64(long v) {
  if (v < 0) { putc('-'); put_u64((u64)(-v)); } else put_u64((u64)v);
}

/* Prints a double with 9 decimals, computed by the guest's own FP unit. */
static void put_double(double d) {
  if (d < 0) { putc('-'); d = -d; }
  u64 whole = (u64)d;
  double frac = d - (double)whole;
  put_u64(whole);
  putc('.');
  for (int i = 0; i < 9; i++) {
    frac *= 10.0;
    int digit = (int)frac;
    putc((char)('0' + digit));
    frac -= digit;
  }
}

/* The bits of a long double (x87 80-bit) as sign/exponent and significand. */
static void put_long_double_bits(long double x) {
  union { long double f; struct { u64 mant; unsigned short se; } p; } u;
  u.f = x;
  put_hex(u.p.se, 4);
  putc(':');
  put_hex(u.p.mant, 16);
}

static u8 buffer[4096];

static u64 fnv1a(const u8 *p, u64 n) {
  u64 h = 0xcbf29ce484222325ul;
  for (u64 i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ul; }
  return h;
}

static u32 crc32c_sw(const u8 *p, u64 n) {
  u32 crc = 0xffffffffu;
  for (u64 i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
  }
  return ~crc;
}

static int values[1000];

static void shell_sort(int *a, int n) {
  for (int gap = n / 2; gap > 0; gap /= 2)
    for (int i = gap; i < n; i++) {
      int v = a[i], j = i;
      while (j >= gap && a[j - gap] > v) { a[j] = a[j - gap]; j -= gap; }
      a[j] = v;
    }
}

static double sqrt_newton(double x) {
  double r = x > 1 ? x / 2 : 1;
  for (int i = 0; i < 60; i++) r = 0.5 * (r + x / r);
  return r;
}

int main(void) {
  puts("kvmkit C guest\n");

  u64 seed = 0x2545f4914f6cdd1dul;
  for (int i = 0; i < 4096; i++) {
    seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
    buffer[i] = (u8)seed;
  }
  puts("fnv1a64: "); put_hex(fnv1a(buffer, sizeof buffer), 16); putc('\n');
  puts("crc32c:  "); put_hex(crc32c_sw(buffer, sizeof buffer), 8); putc('\n');

  for (int i = 0; i < 1000; i++) {
    seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
    values[i] = (int)(seed % 2000001) - 1000000;
  }
  shell_sort(values, 1000);
  int sorted = 1;
  long sum = 0;
  for (int i = 0; i < 1000; i++) { sum += values[i]; if (i && values[i - 1] > values[i]) sorted = 0; }
  puts("sort:    "); puts(sorted ? "sorted" : "NOT SORTED");
  puts(" min "); put_i64(values[0]); puts(" max "); put_i64(values[999]); puts(" sum "); put_i64(sum); putc('\n');

  /* double: Leibniz series for pi, Newton's square root, a harmonic sum. */
  double pi4 = 0;
  for (int k = 0; k < 100000; k++) pi4 += (k & 1 ? -1.0 : 1.0) / (2.0 * k + 1.0);
  puts("pi~      "); put_double(4 * pi4); putc('\n');
  puts("sqrt(2)  "); put_double(sqrt_newton(2.0)); putc('\n');
  double h = 0;
  for (int k = 1; k <= 10000; k++) h += 1.0 / k;
  puts("H(10000) "); put_double(h); putc('\n');

  /* long double: the same series in x87 extended precision, printed as bits. */
  long double lpi4 = 0;
  for (int k = 0; k < 20000; k++) lpi4 += (k & 1 ? -1.0L : 1.0L) / (2.0L * k + 1.0L);
  puts("pi~ (ld) "); put_long_double_bits(4 * lpi4); putc('\n');
  long double e = 1, term = 1;
  for (int k = 1; k < 25; k++) { term /= k; e += term; }
  puts("e (ld)   "); put_long_double_bits(e); putc('\n');
  puts("e (dbl)  "); put_double((double)e); putc('\n');
  return sorted ? 0 : 1;
}
