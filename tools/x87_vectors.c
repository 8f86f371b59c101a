/*
 * Generates the x87 test vectors of tests/emu/x87/vectors/<kind>.txt (below their # comments) by running each
 * case on the host's x87 unit (inline asm). Not needed to run the tests:
 * the output is committed. Build and run:
 *   gcc -O1 -mno-red-zone -o /tmp/x87_vectors tools/x87_vectors.c && /tmp/x87_vectors arith
 * Line formats (hex fields, 80-bit values as 20 digits: sign/exponent then significand):
 *   arith:  op cw a b result sw        (op: add sub mul div sqrt; b unused for sqrt; result is ST(0)
 *           afterwards: b itself when an unmasked exception left the stack unchanged)
 *   misc:   op cw a b result sw [eflags|result2]
 *   store:  op cw a memory sw           (memory: the stored bytes, little-endian hex; cccc... when not written)
 *   load:   op cw memory result sw
 *   trans:  op cw a b st0 sw st1         (ST(0) = a, ST(1) = b before; ST(0), ST(1) after)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct { uint64_t sig; uint16_t se; } __attribute__((packed)) f80;

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
static int rin(int n) { return (int)(rnd() % (uint64_t)n); }

static void pv(f80 v) { printf(" %04x%016llx", v.se, (unsigned long long)v.sig); }
static void pm(const uint8_t *m, int n) { printf(" "); for (int i = n - 1; i >= 0; i--) printf("%02x", m[i]); }

/* A value: specials, denormals, unsupported encodings, and random normals around `near` when near != 0. */
static f80 val(int near) {
  f80 v;
  int s = rin(2) << 15;
  int k = rin(40);
  uint64_t r = rnd() | 0x8000000000000000ull;
  if (k < 3) r &= ~0ull << (64 - 24 - rin(8));       /* few significant bits: exact results */
  switch (k) {
    case 3: v.se = s; v.sig = 0; return v;                                   /* zero */
    case 4: v.se = s | 0x7fff; v.sig = 0x8000000000000000ull; return v;     /* infinity */
    case 5: v.se = s | 0x7fff; v.sig = 0xc000000000000000ull | (rin(2) ? rnd() >> 3 : 0); return v; /* QNaN */
    case 6: v.se = s | 0x7fff; v.sig = 0x8000000000000000ull | ((rnd() >> 3) | 1); return v;      /* SNaN */
    case 7: v.se = s; v.sig = rnd() >> (1 + rin(63)); return v;              /* denormal */
    case 8: v.se = s | 1; v.sig = 0x8000000000000000ull; return v;          /* smallest normal */
    case 9: v.se = s | 0x7ffe; v.sig = ~0ull; return v;                      /* largest */
    case 10: v.se = s | 0x3fff; v.sig = 0x8000000000000000ull; return v;    /* one */
    case 11: v.se = s | (1 + rin(90)); v.sig = r; return v;                  /* tiny normal */
    case 12: v.se = s | (0x7ffe - rin(90)); v.sig = r; return v;             /* huge normal */
    case 13: if (rin(4) == 0) { v.se = s | (1 + rin(0x7ffd)); v.sig = r & 0x7fffffffffffffffull; return v; } /* unnormal */
             v.se = s; v.sig = r; return v;                                  /* pseudo-denormal */
    default: break;
  }
  int e = near ? near + rin(140) - 70 : 0x3fff + rin(160) - 80;
  if (e < 1) e = 1;
  if (e > 0x7ffe) e = 0x7ffe;
  v.se = s | e;
  v.sig = r;
  return v;
}

static const uint16_t RC[4] = {0x0000, 0x0400, 0x0800, 0x0c00};
static const uint16_t PC[4] = {0x0000, 0x0200, 0x0300, 0x0100};
static int unmask; /* 1: some cases run with exceptions unmasked */
static uint16_t cwr(void) {
  uint16_t masks = unmask && rin(5) == 0 ? (uint16_t)(rnd() & 0x3f) : 0x3f;
  return masks | RC[rin(4)] | PC[rin(10) < 4 ? 2 : rin(3)] | 0x40;
}

#define OP2(NAME, BYTES) \
  static void NAME(uint16_t cw, f80 *a, f80 *b, f80 *r, uint16_t *sw) { \
    asm volatile("fninit\n fldcw %2\n fldt %3\n fldt %4\n .byte " BYTES "\n fnstsw %1\n fnclex\n fstpt %0\n" \
                 : "=m"(*r), "=m"(*sw) : "m"(cw), "m"(*a), "m"(*b)); }
OP2(op_add, "0xde,0xc1")
OP2(op_sub, "0xde,0xe9")
OP2(op_mul, "0xde,0xc9")
OP2(op_div, "0xde,0xf9")

static void op_sqrt(uint16_t cw, f80 *a, f80 *b, f80 *r, uint16_t *sw) {
  (void)b;
  asm volatile("fninit\n fldcw %2\n fldt %3\n fsqrt\n fnstsw %1\n fnclex\n fstpt %0\n" : "=m"(*r), "=m"(*sw) : "m"(cw), "m"(*a));
}

static void arith(int n) {
  static void (*const f[5])(uint16_t, f80 *, f80 *, f80 *, uint16_t *) = {op_add, op_sub, op_mul, op_div, op_sqrt};
  static const char *const name[5] = {"add", "sub", "mul", "div", "sqrt"};
  for (int i = 0; i < n; i++) {
    int o = rin(5);
    uint16_t cw = cwr(), sw;
    f80 a = val(0), b = val(o < 2 && rin(2) ? (a.se & 0x7fff) : 0), r;
    if (o >= 2 && rin(3) == 0) { a.se = (a.se & 0x8000) | (rin(2) ? 1 + rin(200) : 0x7ffe - rin(200)); } /* range edges */
    if (o == 4 && rin(2)) a.se &= 0x7fff;
    f[o](cw, &a, &b, &r, &sw);
    printf("%s %04x", name[o], cw); pv(a); pv(b); pv(r); printf(" %04x\n", sw & 0xc7ff);
  }
}

#define OP1(NAME, BYTES) \
  static void NAME(uint16_t cw, f80 *a, f80 *b, f80 *r, f80 *r2, uint16_t *sw, uint64_t *fl) { \
    asm volatile("fninit\n fldcw %4\n fldt %6\n fldt %5\n .byte " BYTES "\n fnstsw %2\n pushfq\n popq %3\n fstpt %0\n fstpt %1\n" \
                 : "=m"(*r), "=m"(*r2), "=m"(*sw), "=r"(*fl) : "m"(cw), "m"(*a), "m"(*b)); }
/* st0 = a, st1 = b on entry; results st0, st1. */
OP1(m_rndint, "0xd9,0xfc")
OP1(m_scale, "0xd9,0xfd")
OP1(m_prem, "0xd9,0xf8")
OP1(m_prem1, "0xd9,0xf5")
OP1(m_com, "0xd8,0xd1")
OP1(m_ucom, "0xdd,0xe1")
OP1(m_comi, "0xdb,0xf1")
OP1(m_ucomi, "0xdb,0xe9")
OP1(m_tst, "0xd9,0xe4")
OP1(m_xam, "0xd9,0xe5")

/* Transcendentals: st0 = a, st1 = b on entry; results st0, st1 (FSINCOS and FPTAN push, FPATAN, FYL2X, FYL2XP1 pop). */
#define TR(NAME, BYTES) \
  static void NAME(uint16_t cw, f80 *a, f80 *b, f80 *r, f80 *r2, uint16_t *sw) { \
    asm volatile("fninit\n fldcw %3\n fldt %5\n fldt %4\n .byte " BYTES "\n fnstsw %2\n fnclex\n fstpt %0\n fstpt %1\n" \
                 : "=m"(*r), "=m"(*r2), "=m"(*sw) : "m"(cw), "m"(*a), "m"(*b)); }
TR(t_sin, "0xd9,0xfe")
TR(t_cos, "0xd9,0xff")
TR(t_sincos, "0xd9,0xfb")
TR(t_ptan, "0xd9,0xf2")
TR(t_patan, "0xd9,0xf3")
TR(t_f2xm1, "0xd9,0xf0")
TR(t_yl2x, "0xd9,0xf1")
TR(t_yl2xp1, "0xd9,0xf9")

static void trans(int n) {
  static void (*const f[8])(uint16_t, f80 *, f80 *, f80 *, f80 *, uint16_t *) = {
      t_sin, t_cos, t_sincos, t_ptan, t_patan, t_f2xm1, t_yl2x, t_yl2xp1};
  static const char *const name[8] = {"sin", "cos", "sincos", "ptan", "patan", "f2xm1", "yl2x", "yl2xp1"};
  for (int i = 0; i < n; i++) {
    int o = rin(8);
    uint16_t cw = 0x37f | RC[rin(4)], sw;
    f80 a = val(0), b = val(0), r, r2;
    if (rin(4)) {
      /* in-domain arguments */
      a.sig |= 0x8000000000000000ull;
      if (o <= 3) a.se = (a.se & 0x8000) | (0x3fff - 8 + rin(12));
      if (o == 5) a.se = (a.se & 0x8000) | (0x3fff - 1 - rin(70));
      if (o == 6) a.se = 0x3fff - 20 + rin(40);
      if (o == 7) a.se = (a.se & 0x8000) | (0x3fff - 2 - rin(70));
      if (o >= 6) b.se = (b.se & 0x8000) | (0x3fff - 4 + rin(8)), b.sig |= 0x8000000000000000ull;
      if (o == 4) b.sig |= 0x8000000000000000ull, b.se = (b.se & 0x8000) | ((a.se & 0x7fff) - 8 + rin(16));
    }
    f[o](cw, &a, &b, &r, &r2, &sw);
    printf("%s %04x", name[o], cw); pv(a); pv(b); pv(r); printf(" %04x", sw & 0xc7ff); pv(r2); printf("\n");
  }
}

static void misc(int n) {
  static void (*const f[10])(uint16_t, f80 *, f80 *, f80 *, f80 *, uint16_t *, uint64_t *) = {
      m_rndint, m_scale, m_prem, m_prem1, m_com, m_ucom, m_comi, m_ucomi, m_tst, m_xam};
  static const char *const name[10] = {"rndint", "scale", "prem", "prem1", "com", "ucom", "comi", "ucomi", "tst", "xam"};
  for (int i = 0; i < n; i++) {
    int o = rin(10);
    uint16_t cw = cwr(), sw;
    uint64_t fl;
    f80 a = val(0), b, r, r2;
    if (o == 1) { b = val(0); b.se = (b.se & 0x8000) | (0x3fff + rin(16)); if (rin(5) == 0) b = val(0); }
    else if (o == 2 || o == 3) b = val(rin(2) ? (a.se & 0x7fff) - rin(70) : 0);
    else if (o >= 4 && o <= 7 && rin(4) == 0) b = a;
    else b = val(a.se & 0x7fff);
    if (o == 0 && rin(2)) a.se = (a.se & 0x8000) | (0x3fff + rin(66));
    f[o](cw, &a, &b, &r, &r2, &sw, &fl);
    printf("%s %04x", name[o], cw); pv(a); pv(b); pv(r); printf(" %04x", sw & 0xc7ff); pv(r2);
    printf(" %02x\n", o == 6 || o == 7 ? (unsigned)(fl & 0x8d5) : 0); /* EFLAGS only for FCOMI/FUCOMI */
  }
}

/* The stores, in the order of the vector files' cases: name, instruction, bytes written, and the exponent
 * below which store() draws its random values (0x3fff: around 1.0 for the floating-point formats). */
#define STORES(X) \
  X(f32, "fstps", 4, 0x3fff) \
  X(f64, "fstpl", 8, 0x3fff) \
  X(i16, "fistps", 2, 0x400d) \
  X(i32, "fistpl", 4, 0x401d) \
  X(i64, "fistpll", 8, 0x403d) \
  X(t16, "fisttps", 2, 0x400d) \
  X(t32, "fisttpl", 4, 0x401d) \
  X(t64, "fisttpll", 8, 0x403d) \
  X(bcd, "fbstp", 10, 0x4038)

#define ST(NAME, INSN, N, NEAR) \
  static void s_##NAME(uint16_t cw, f80 *a, uint8_t *m, uint16_t *sw) { \
    asm volatile("fninit\n fldcw %2\n fldt %3\n " INSN " %0\n fnstsw %1\n fninit\n" : "=m"(*(uint8_t(*)[N])m), "=m"(*sw) : "m"(cw), "m"(*a)); }
STORES(ST)

static void store(int n) {
#define ST_ENTRY(NAME, INSN, N, NEAR) {s_##NAME, #NAME, N, NEAR},
  static const struct { void (*f)(uint16_t, f80 *, uint8_t *, uint16_t *); const char *name; int size, near; } op[] = {
    STORES(ST_ENTRY)
  };
  for (int i = 0; i < n; i++) {
    int o = rin(9);
    uint16_t cw = cwr(), sw;
    uint8_t m[10];
    memset(m, 0xcc, sizeof m);
    f80 a = val(o >= 2 ? op[o].near - rin(40) : 0);
    if (o < 2 && rin(3) == 0) a.se = (a.se & 0x8000) | (o ? 0x3fff - 1022 - rin(60) + 30 : 0x3fff - 126 - rin(30) + 15);
    if (o < 2 && rin(5) == 0) a.se = (a.se & 0x8000) | (o ? 0x3fff + 1023 - rin(4) + 2 : 0x3fff + 127 - rin(4) + 2);
    op[o].f(cw, &a, m, &sw);
    printf("%s %04x", op[o].name, cw); pv(a); pm(m, op[o].size); printf(" %04x\n", sw & 0xc7ff);
  }
}

/* The loads, in the order of the vector files' cases: name, instruction, bytes read. */
#define LOADS(X) \
  X(f32, "flds", 4) \
  X(f64, "fldl", 8) \
  X(i16, "filds", 2) \
  X(i32, "fildl", 4) \
  X(i64, "fildll", 8) \
  X(bcd, "fbld", 10)

#define LD(NAME, INSN, N) \
  static void l_##NAME(uint16_t cw, const uint8_t *m, f80 *r, uint16_t *sw) { \
    asm volatile("fninit\n fldcw %2\n " INSN " %3\n fnstsw %1\n fstpt %0\n" : "=m"(*r), "=m"(*sw) : "m"(cw), "m"(*(const uint8_t(*)[N])m)); }
LOADS(LD)

static void load(int n) {
#define LD_ENTRY(NAME, INSN, N) {l_##NAME, #NAME, N},
  static const struct { void (*f)(uint16_t, const uint8_t *, f80 *, uint16_t *); const char *name; int size; } op[] = {
    LOADS(LD_ENTRY)
  };
  for (int i = 0; i < n; i++) {
    int o = rin(6);
    uint16_t cw = cwr(), sw;
    uint8_t m[10];
    uint64_t x = rnd(), y = rnd();
    if (o == 0 && rin(3) == 0) x = (x & 0x807fffff) | ((uint64_t)(rin(2) ? 0 : 0xff) << 23);
    if (o == 1 && rin(3) == 0) x = (x & 0x800fffffffffffffull) | ((uint64_t)(rin(2) ? 0 : 0x7ff) << 52);
    if (o == 1 && rin(4) == 0) x &= 0x800fffffffffffffull;
    if (o == 0 && rin(4) == 0) x &= 0x8000ffff;
    if (o >= 2 && o <= 4 && rin(3) == 0) x = (int64_t)(int8_t)x;
    memcpy(m, &x, 8);
    memcpy(m + 8, &y, 2);
    if (o == 5) {
      for (int k = 0; k < 9; k++) m[k] = (uint8_t)(rin(10) << 4 | rin(10));
      m[9] = rin(2) ? 0x80 : 0;
      if (rin(6) == 0) m[rin(9)] |= 0x0b;
    }
    op[o].f(cw, m, &(f80){0}, &sw);
    f80 r;
    op[o].f(cw, m, &r, &sw);
    printf("%s %04x", op[o].name, cw); pm(m, op[o].size); pv(r); printf(" %04x\n", sw & 0xc7ff);
  }
}

static void consts(void) {
  for (int k = 0; k < 4; k++) {
    uint16_t cw = 0x37f | RC[k], sw = 0;
    f80 r[7];
    asm volatile("fninit\n fldcw %1\n fld1\n fldl2t\n fldl2e\n fldpi\n fldlg2\n fldln2\n fldz\n"
                 "fstpt %0\n fstpt 10+%0\n fstpt 20+%0\n fstpt 30+%0\n fstpt 40+%0\n fstpt 50+%0\n fstpt 60+%0\n"
                 : "=m"(r) : "m"(cw));
    printf("const %04x", cw);
    for (int i = 6; i >= 0; i--) pv(r[i]);
    printf(" %04x\n", sw);
  }
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "arith";
  unmask = 1;
  if (!strcmp(what, "arith")) arith(800);
  else if (!strcmp(what, "store")) store(450);
  unmask = 0;
  if (!strcmp(what, "misc")) misc(500);
  else if (!strcmp(what, "load")) load(200);
  else if (!strcmp(what, "const")) consts();
  else if (!strcmp(what, "trans")) trans(400);
  return 0;
}
