/**
 * gcc-compiled 64-bit code at CPL 3 on both backends: a freestanding
 * program (an FNV-1a hash, an insertion sort, 64-bit division and
 * remainder, an integer square root, a 128-bit multiply, TZCNT/BSR) built
 * with
 *
 *   gcc -O2 -ffreestanding -nostdlib -fno-pic -fno-pie -no-pie -mno-red-zone -mgeneral-regs-only \
 *     -fno-stack-protector -fno-asynchronous-unwind-tables -static -Wl,-Ttext=0x20000 -Wl,-e,_start
 *   objcopy -O binary -j .text
 *
 * from this source; its eight results land at 0x8800, then `hlt` ends it.
 *
 * ```c
 * typedef unsigned long u64;
 * typedef unsigned int u32;
 * static u64 fnv(const unsigned char *p, int n) {
 *   u64 h = 0xcbf29ce484222325ull;
 *   for (int i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
 *   return h;
 * }
 * static void sort(long *a, int n) {
 *   for (int i = 1; i < n; i++) {
 *     long v = a[i]; int j = i - 1;
 *     while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
 *     a[j + 1] = v;
 *   }
 * }
 * static u64 isqrt(u64 x) { u64 r = 0, b = 1ull << 62; while (b > x) b >>= 2; while (b) { if (x >= r + b) { x -= r + b; r = (r >> 1) + b; } else r >>= 1; b >>= 2; } return r; }
 * __attribute__((section(".text.start"))) void _start(void) {
 *   volatile u64 *out = (u64 *)0x8800;
 *   long a[32];
 *   u64 x = 88172645463325252ull;
 *   for (int i = 0; i < 32; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; a[i] = (long)x >> (i & 7); }
 *   sort(a, 32);
 *   out[0] = fnv((const unsigned char *)a, sizeof a);
 *   out[1] = a[0]; out[2] = a[31];
 *   u64 s = 0; for (int i = 0; i < 32; i++) s += (u64)a[i] / ((u64)i + 3) + (u64)a[i] % 1000003;
 *   out[3] = s;
 *   out[4] = isqrt(x);
 *   __int128 m = (__int128)a[5] * a[7];
 *   out[5] = (u64)(m >> 64); out[6] = (u64)m;
 *   u32 c = 0; for (int i = 0; i < 32; i++) c += __builtin_ctzll(a[i] | 1) + __builtin_clzll(a[i] | 1);
 *   out[7] = c;
 *   __asm__ volatile("hlt");
 * }
 * ```
 *
 * The second program (a binary tree with recursion, a switch compiled to a
 * jump table in .rodata, calls through function pointers, byte loops,
 * signed division and remainder; entry 0x20660, .rodata at 0x21000):
 *
 * ```c
 * typedef unsigned long u64; typedef long i64; typedef unsigned int u32; typedef int i32;
 * typedef unsigned char u8;
 * struct node { i64 key; struct node *l, *r; };
 * static struct node pool[64]; static int used;
 * static struct node *ins(struct node *t, i64 k) { if (!t) { struct node *n = &pool[used++]; n->key = k; n->l = n->r = 0; return n; } if (k < t->key) t->l = ins(t->l, k); else t->r = ins(t->r, k); return t; }
 * static i64 sum(struct node *t, int d) { return t ? t->key * d + sum(t->l, d + 1) - sum(t->r, d + 2) : 0; }
 * static int op(int k, int a, int b) { switch (k & 7) { case 0: return a + b; case 1: return a - b; case 2: return a * b; case 3: return b ? a / b : -1; case 4: return b ? a % b : -2; case 5: return a << (b & 15); case 6: return a >> (b & 15); default: return a ^ b; } }
 * static void mset(u8 *p, int c, u64 n) { for (u64 i = 0; i < n; i++) p[i] = (u8)c; }
 * static void mcpy(u8 *d, const u8 *s, u64 n) { for (u64 i = 0; i < n; i++) d[i] = s[i]; }
 * typedef i64 (*fn)(i64);
 * static i64 f1(i64 x) { return x * 3 + 1; } static i64 f2(i64 x) { return x / 2; } static i64 f3(i64 x) { return -x ^ 0x55; }
 * __attribute__((section(".text.start"))) void _start(void) {
 *   volatile u64 *out = (u64 *)0x8800;
 *   u64 x = 0x9e3779b97f4a7c15ull; struct node *t = 0;
 *   for (int i = 0; i < 40; i++) { x = x * 6364136223846793005ull + 1442695040888963407ull; t = ins(t, (i64)(x >> 20) - (i64)(1ll << 42)); }
 *   out[0] = (u64)sum(t, 1);
 *   i32 acc = 7; for (int i = 0; i < 200; i++) acc = op(i * 7 + acc, acc, i - 100) + (acc > 1000 ? -acc / 3 : 17);
 *   out[1] = (u64)(i64)acc;
 *   u8 buf[300]; mset(buf, 0xa5, sizeof buf); for (int i = 0; i < 300; i += 7) buf[i] = (u8)i;
 *   u8 b2[300]; mcpy(b2, buf, 300); u64 h = 0; for (int i = 0; i < 300; i++) h = h * 31 + b2[i];
 *   out[2] = h;
 *   fn fs[3] = { f1, f2, f3 }; i64 v = 12345; for (int i = 0; i < 30; i++) v = fs[(v & 0xff) % 3](v);
 *   out[3] = (u64)v;
 *   i64 q = 0; for (i64 i = -50; i < 50; i++) q += (i * 1000003) / 7 + (i * 99991) % 13 + (i < 0 ? i : -i);
 *   out[4] = (u64)q;
 *   u32 m = 0; for (u32 i = 1; i < 1000; i++) m += (i * 2654435761u) >> 27;
 *   out[5] = m;
 *   __asm__ volatile("hlt");
 * }
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../../_support/harness.ts";
import { bytes, enterLongMode, longMachine, runToReport, view } from "../../_support/long_mode.ts";

/** The program's .text, loaded at 0x20000 (its entry). */
const PROGRAM = hexBytes(
  "48be447abfcb8d4039015331c04881ec000100000f1f40004889f148c1e10d4831f14889ca48c1ea074831ca89c14889" +
    "d683e10748c1e6114831d64889f248d3fa488914c44883c0014883f82075c931ff0f1f8000000000488b4cfc084889f8" +
    "eb18660f1f440000488954c4084883e80183f8ff0f8486010000488b14c44839d17ce583c0014898488d04c44883c701" +
    "4889084883ff1f75bf4889e74889e24c8d84240001000048b825232284e49cf2cb49b9b3010000000100000f1f440000" +
    "0fb60a4883c2014831c8490fafc14c39c275ed4889042500880000488b04244531db41b90300000048bb699cb59c4445" +
    "6f0c4889042508880000488b8424f80000004889042510880000660f1f4400004a8b4ccce831d24889c849f7f14983c1" +
    "014989c24889c848f7e34889c84829d048d1e84801c248c1ea134869d243420f004829d14901ca4d01d34983f92375c0" +
    "4889f04c891c251888000048c1e83e48b8000000000000004075170f1f44000048c1e8024839c672f74885c00f848600" +
    "000031d20f1f4000488d0c1048d1ea4839ce72064829ce4801c248c1e80275e84889142520880000488b44243848f76c" +
    "2428488914252888000031d248890425308800000f1f4000488b0731c94883c801f3480fbcc8480fbdc04883c7084883" +
    "f03f01c801c24939f875dd4889142538880000f44881c4000100005bc30f1f004889e0e984feffff31d2eb94",
);

/** What the host CPU computed (KVM running the program natively). */
const RESULTS = [
  0xa45993d83c897201n,
  0x8b4eb7817f86ead9n,
  0x79690975fbde15b0n,
  0xd4e185bc7f8d87acn,
  0x98bea706n,
  0x178fc484e56611n,
  0x79e508f89b8e1204n,
  0x4bn,
];

function hexBytes(hex: string): number[] {
  return bytes(hex.replace(/(..)/g, "$1 "));
}

/** The second program's .text (at 0x20000, entry 0x20660) and .rodata (at 0x21000). */
const PROGRAM2_TEXT = hexBytes(
  "4885ff7433534889fb4839377f12488b7f10e8e9ffffff488943104889d85bc3488b7f08e8d7ffffff488943084889d8" +
    "5bc3660f1f440000486305012000008d50018915f81f0000488d144048c1e203488d82602002004889b26020020048c7" +
    "40100000000048c7400800000000c390488d447f01c3662e0f1f8400000000004889f848c1e83f4801f848d1f8c36690" +
    "4889f848f7d84883f055c30f1f44000031d24885ff0f84ab050000415741bf0100000041564989fe4863fe41554989d5" +
    "41544989fc558d6e01534c89f34881ec68010000488b3b488b4308490faffc4885c00f843b0500004863cd8d5501be01" +
    "0000004531c94889bc24980000004989ce4c89ac24b80000004c89bc24a00000004989f789ac24ac00000089d54c89a4" +
    "24b00000004989c4498b3c244d8b6c2408490faffe4d85ed0f849c04000048c7442478000000004c63d5448d450141bb" +
    "010000004889bc24c00000004c898c24d800000089ac24000100004c89a424c80000004d89d44c89bc24d00000004d89" +
    "df48899c24e00000004489c34d8b4500498b45084d0fafc44885c00f84e20300004c89bc24f00000004c63cb8d530141" +
    "ba0100000048c7842480000000000000004c89d5899c24040100004c898424100100004c89ac24e80000004189d54c89" +
    "b424f80000004d89ce4c89a424080100004989c4498b0424498b4c2408490fafc648898424880000004885c90f840a03" +
    "00004d63cd458d450141ba010000004531db4489ac24500100004d89d74c89a424180100004989cc4889ac2420010000" +
    "4489c54c89b424280100004d89ce498b14244d8b6c2408490fafd64d85ed0f84710200004c897c24104863fd8d450131" +
    "c94c895c241841b80100000089c34989d24c896424084989fc4d8b7d00498b7d084d0faffc4885ff0f84040200004863" +
    "c34c894424204d89e94189e848894424388d43014d89d54d89fa48c7442430010000008944240431c048894c24284989" +
    "c34c89f1488b442438480faf07488b6f0848894424404885ed0f84660100004c637424044c894c245041bf0100000031" +
    "f648897c24584489442470418d560148894c2468895c24744c895424484d89e24d89fc4d89f74c895c24604d89eb4989" +
    "f54c8b7500488b5d084d0faff74885db0f84c100000089d04c63ca31c941b8010000004429f8898424a8000000488b03" +
    "8bbc24a80000004c899c245801000089942454010000490fafc1428d340f488b7b084c8994244801000048898c244001" +
    "00004c898424380100004c898c24300100004889842490000000e8f1fcffff488b5b10488bb424900000004c8b842438" +
    "010000488b8c24400100004801f04c8b8c24300100004c8b942448010000490fafc049f7d88b9424540100004c8b9c24" +
    "580100004983c1024801c14885db0f8559ffffff4901ce4d0faff4488b6d1049f7dc4983c70283c2024d01f54885ed0f" +
    "850cffffff4c89ee48017424404d89d44d89dd4c8b4c2450488b7c2458448b442470488b4c24688b5c24744c8b542448" +
    "4c8b5c2460488b442430488b542440488b7f10488344243802480fafd048f7d8834424040248894424304901d34885ff" +
    "0f854efeffff4d89d74489c54989ce4c8b442420488b4c24284d89ea4d01df4d89cd4d0faff84d8b6d1049f7d84983c4" +
    "0283c3024c01f94d85ed0f85c9fdffff4c89d24c8b6424084c8b7c24104c8b5c24184801ca490fafd74d8b64241049f7" +
    "df4983c60283c5024901d34d85e40f855afdffff4c019c24880000004c8ba42418010000488bac2420010000448bac24" +
    "500100004c8bb42428010000488b8c24880000004d8b6424104983c6024183c502480fafcd48f7dd48018c2480000000" +
    "4d85e40f85abfcffff4c8b842410010000488b8424800000004c8bac24e80000004c8bbc24f00000004c8bb424f80000" +
    "008b9c24040100004901c04c8ba424080100004d8b6d104d0fafc74983c40249f7df4c0144247883c3024d85ed0f85e9" +
    "fbffff488bbc24c0000000488b4424784c8ba424c80000004c8bbc24d00000004c8b8c24d80000008bac240001000048" +
    "01c7488b9c24e0000000490fafff4d8b64241049f7df4983c60283c5024901f94d85e40f852ffbffff488bbc24980000" +
    "004c8bbc24a00000008bac24ac0000004c8ba424b00000004c8bac24b80000004c01cf490fafff488b5b1049f7df4983" +
    "c40283c5024901fd4885db0f8593faffff4881c4680100004c89e85b5d415c415d415e415fc34889d0c3660f1f440000" +
    "48b9157c4a7fb979379e415749ba2d7f954c2df4515849b94f8167f77e7b051449b80000000000fcffff415641554154" +
    "5531ed53bb280000004881ec78020000490fafca4889ef4c01c94889ce48c1ee144c01c6e847f9ffff4889c583eb0175" +
    "df4531ff4885c0743b41bd0100000041be010000004c8b6500488b7d08418d7501e8baf9ffff4d0fafe5488b6d104983" +
    "c5024901c44d0fafe649f7de4d01e74885ed75d14c893c2500880000bf9cffffffbe07000000662e0f1f840000000000" +
    "8d043383e00783f8060f8781020000ff24c500100200662e0f1f84000000000089f989f083e10fd3e089c10f1f440000" +
    "b81100000081fee80300007e15f7de4863c6c1fe1f4869c05655555548c1e82029f083c7018d340883c30783ff6475a0" +
    "4863f6488d442418488d94244401000048893425088800000f1f840000000000c600a54883c0014839c275f431c06690" +
    "884404184883c007483d2d01000075f031c0660f1f4400000fb64c0418880c024883c001483d2c01000075ec488db424" +
    "7002000031c0662e0f1f8400000000004889c14883c20148c1e1054829c10fb642ff4801c84839d675e6488904251088" +
    "0000bb1e000000b870000200bf3930000048c704247000020048bdabaaaaaaaaaaaaaa48c74424088000020048c74424" +
    "1090000200eb26660f1f8400000000000fb6c84889c848f7e54889d04883e2fe48d1e84801c24829d1488b04ccffd048" +
    "89c783eb0175d9488904251888000048c7c782b6b3ff4531c949c7c0ea0e05fd48c7c6ceffffff49bb25499224499224" +
    "4949bac54eecc44eecc44e0f1f4400004c89c049f7eb4c89c048c1f83f48d1fa4889d14829c14889f849f7ea4889f848" +
    "c1f83f48c1fa024829c2488d0452488d14824889f84829d04801c14889f048f7d8480f48c64883c6014981c043420f00" +
    "4881c7978601004829c14901c94883fe32759d4c890c2520880000b8b179379e89c22d4f86c861c1ea1b01d33d685bb3" +
    "0875ed48891c2528880000f44881c4780200005b5d415c415d415e415fc3669085ff746589f099f7ff89d1e9f0fdffff" +
    "85ff0f847e00000089f099f7ff89c1e9dcfdffff0f1f400089f90fafcee9cefdffff660f1f44000089f129f9e9bffdff" +
    "ff0f1f80000000008d0c37e9b0fdffff89f989f083e10fd3f889c1e9a0fdffff89f931f1e997fdffff81fee80300007e" +
    "64f7de83c307bf010000004863c6c1fe1f4869c05655555548c1e82029f08d70fee93afdffff81fee80300007e25f7de" +
    "83c307bf010000004863c6c1fe1f4869c05655555548c1e82029f08d70ffe90dfdffff83c307bf01000000be10000000" +
    "e9fbfcffff83c307bf01000000be0f000000e9e9fcffff",
);
const PROGRAM2_RODATA = hexBytes(
  "980902000000000088090200000000007809020000000000600902000000000050090200000000004007020000000000" +
    "a009020000000000",
);
const RESULTS2 = [
  0xffffd9aa012cf965n,
  0xffffffffc05ffff6n,
  0xe10c10b941a3b612n,
  0xffffffffedb92df0n,
  0xffffffffff92f854n,
  0x3c8an,
];

backendTest("long mode: a gcc -O2 program with recursion, a jump table and calls through pointers (CPL 3)", (kvm) => {
  using m = longMachine(kvm);
  m.mem.bytes.set(PROGRAM2_TEXT, 0x20000);
  m.mem.bytes.set(PROGRAM2_RODATA, 0x21000);
  enterLongMode(m.vcpu, 0x20660n, { cpl: 3, rsp: 0x30000n });
  runToReport(m);
  const v = view(m.mem);
  RESULTS2.forEach((want, i) => assert.equal(v.getBigUint64(0x8800 + 8 * i, true), want, `result ${i}`));
});

backendTest("long mode: a gcc -O2 program at CPL 3 computes what the host CPU computes", (kvm) => {
  using m = longMachine(kvm);
  m.mem.bytes.set(PROGRAM, 0x20000);
  enterLongMode(m.vcpu, 0x20000n, { cpl: 3 });
  runToReport(m);
  const v = view(m.mem);
  RESULTS.forEach((want, i) => assert.equal(v.getBigUint64(0x8800 + 8 * i, true), want, `result ${i}`));
});
