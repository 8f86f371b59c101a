/**
 * The benchmark guests (bench/guests/*.asm) as models: for each workload,
 * how many instructions it executes for N iterations, and the checksum it
 * reports. The models follow the assembly block by block, so a count or a
 * checksum here that disagrees with a run means the guest or its model is
 * wrong; bench/guests/verify.ts checks the counts by single-stepping.
 *
 * Counting convention: every executed instruction counts once, except a
 * `rep`-prefixed string instruction, which counts once per iteration (as
 * single-stepping sees it on hardware). The count runs from the reset
 * vector's `jmp` to the final `hlt`, both included.
 *
 * @module
 */

/** The guest's mode after the boot stub: 32-bit protected mode or 64-bit long mode, both with paging. */
export type GuestMode = 32 | 64;

/** One workload's model. */
export interface Workload {
  /** The image's base name: bench/guests/NAME_32.bin and NAME_64.bin, from NAME.asm. */
  name: string;
  /** What it exercises, in a few words. */
  description: string;
  /** Instructions of `main` that do not depend on N (the boot stub and the report excluded). */
  mainFixed: number;
  /** Instructions per iteration (in both modes unless `perIterationIn` gives a mode its own). */
  perIteration: number;
  /**
   * Instructions per iteration of a mode whose image runs other code than the other's (mpi: each mode's own form of
   * the kernel's loops; its checksum is the same).
   */
  perIterationIn?: Readonly<Partial<Record<GuestMode, number>>>;
  /** The checksum main returns (and the guest prints) for N iterations. */
  checksum(n: number): number;
  /**
   * Accesses per iteration that fault and run again once the handler returns: counted once above (they retire
   * once), but QEMU's exec log shows the faulting attempt too (verify.ts adds them to its count).
   */
  faultsPerIteration?: number;
  /** It programs the local APIC: kvmkit creates the in-kernel irqchip for it (QEMU's machine has one). */
  irqchip?: boolean;
}

/** Instructions from the reset vector to `call main`, per mode (see _boot.inc). */
export const BOOT_INSTRUCTIONS: Readonly<Record<GuestMode, number>> = {
  // jmp far; real mode 7; segments 5; PD 3 + 4 x 5; PTs 3 + 4096 x 5; cr3 and cr0 5; call 1
  32: 1 + 7 + 5 + 3 + 4 * 5 + 3 + 4096 * 5 + 5 + 1,
  // jmp far; real mode 7; segments 5; PML4, PDPT 2; PD 3 + 8 x 5; PTs 3 + 4096 x 5;
  // cr4 3; cr3 2; EFER 4; cr0 3; jmp far 1; mov rsp 1; call 1
  64: 1 + 7 + 5 + 2 + 3 + 8 * 5 + 3 + 4096 * 5 + 3 + 2 + 4 + 3 + 1 + 1 + 1,
};

/** Instructions of `report`: 2, 8 digits x 7, then newline, exit port and hlt (5). */
export const REPORT_INSTRUCTIONS = 2 + 8 * 7 + 5;

/** The iteration count's address in guest memory (a dword). */
export const PARAMS_ADDR = 0x500;

/** Guest memory the images expect, from 0: 16 MiB, identity mapped. */
export const GUEST_RAM_SIZE = 0x1000000;

/** Where the 64 KiB image sits: below 1 MiB, and at the top of 4 GiB where the reset vector is. */
export const IMAGE_ADDR_LOW = 0xf0000;
export const IMAGE_ADDR_HIGH = 0xffff0000;
export const IMAGE_SIZE = 0x10000;

/** Ports the guests use. */
export const PORT_DEBUGCON = 0xe9;
export const PORT_DEBUG_EXIT = 0xf4;
export const PORT_POST = 0x80;

/** Instructions per iteration of `w` in `mode`. */
export function iterationInstructions(w: Workload, mode: GuestMode): number {
  return w.perIterationIn?.[mode] ?? w.perIteration;
}

/** Total instructions for `n` iterations of `w` in `mode`. */
export function instructionCount(w: Workload, mode: GuestMode, n: number): number {
  return BOOT_INSTRUCTIONS[mode] + REPORT_INSTRUCTIONS + w.mainFixed + iterationInstructions(w, mode) * n;
}

/**
 * The checksum of a main that ends in FOLD_AND_REPEAT (_boot.inc): every
 * iteration adds its `result` and the count of iterations remaining.
 */
function foldAndRepeatChecksum(result: number, n: number): number {
  let ebx = 0;
  for (let edx = n; edx >= 1; edx--) ebx = (ebx + result + edx) >>> 0;
  return ebx;
}

/** The line the guest prints for `checksum`: 8 hex digits. */
export function checksumText(checksum: number): string {
  return (checksum >>> 0).toString(16).padStart(8, "0");
}

/** Rotates a 32-bit value left. */
function rol(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** xorshift32 (13, 17, 5) as the guests compute it. */
function xorshift(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/** The memcpy/memset buffers' size in bytes and dwords (_buffers.inc). */
const BUF_BYTES = 16384;
const BUF_DWORDS = BUF_BYTES / 4;
/** fill_src: call 1, 3 + 13 per dword + ret. fold_dst: jmp 1, 3 + 5 per dword + ret. */
const FILL_SRC = 1 + 3 + 13 * BUF_DWORDS + 1;
const FOLD_DST = 1 + 3 + 5 * BUF_DWORDS + 1;

/** fold_dst over `dwords`: h = rol(h, 5) + dword. */
function fold(dwords: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < dwords.length; i++) h = (rol(h, 5) + dwords[i]) >>> 0;
  return h;
}

/** The source buffer after fill_src and N xor perturbations: what memcpy leaves in DST. */
function memcpyChecksum(n: number): number {
  const src = new Uint32Array(BUF_DWORDS);
  let x = 1;
  for (let i = 0; i < BUF_DWORDS; i++) src[i] = x = xorshift(x);
  for (let edx = n; edx >= 1; edx--) src[edx & (BUF_DWORDS - 1)] ^= edx;
  return fold(src);
}

/** DST after memset of the N-th multiple of 0x9e3779b9, as dwords or as bytes. */
function memsetChecksum(n: number, bytes: boolean): number {
  const v = Math.imul(n, 0x9e3779b9) >>> 0;
  const dword = bytes ? Math.imul(v & 0xff, 0x01010101) >>> 0 : v;
  return fold(new Uint32Array(BUF_DWORDS).fill(dword));
}

/** The sieve's per-pass instruction count and prime count (sieve.asm). */
function sievePass(): { instructions: number; primes: number } {
  const limit = 8192;
  const flags = new Uint8Array(limit).fill(1);
  let count = 3 + 4 * (limit / 4) + 1; // clear loop, mov ecx, 2
  for (let p = 2;; p++) {
    count += 4; // mov, imul, cmp, jae
    if (p * p >= limit) break;
    count += 2; // cmp byte, je
    if (flags[p]) {
      for (let m = p * p; m < limit; m += p) {
        flags[m] = 0;
        count += 4; // mov byte, add, cmp, jb
      }
    }
    count += 2; // inc, jmp
  }
  let primes = 0;
  for (let i = 2; i < limit; i++) primes += flags[i];
  count += 2 + 5 * (limit - 2) + 4; // mov, xor; the sum loop; add, add, dec, jnz
  return { instructions: count, primes };
}

/** The sort's per-pass instruction count and the sorted array (sort.asm). */
function sortPass(): { instructions: number; sorted: Uint32Array } {
  const n = 512;
  const a = new Uint32Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) a[i] = x = xorshift(x);
  let count = 3 + 13 * n + 1; // fill loop, mov ecx, 1
  for (let i = 1; i < n; i++) {
    const key = a[i];
    let k = i;
    count += 2; // mov eax, mov esi
    for (;;) {
      if (k === 0) {
        count += 2; // test, jz
        break;
      }
      if (a[k - 1] <= key) {
        count += 5; // test, jz, mov, cmp, jbe
        break;
      }
      a[k] = a[k - 1];
      k--;
      count += 8; // test, jz, mov, cmp, jbe, mov, dec, jmp
    }
    a[k] = key;
    count += 4; // mov, inc, cmp, jb
  }
  count += 6; // mov, and, add, rol, dec, jnz
  return { instructions: count, sorted: a };
}

/** Instructions of fib(n) including its own ret, and its value (fib.asm). */
function fibModel(n: number): { instructions: number; value: number } {
  if (n < 2) return { instructions: 4, value: n };
  const a = fibModel(n - 1), b = fibModel(n - 2);
  return { instructions: 12 + a.instructions + b.instructions, value: a.value + b.value };
}

/**
 * The 32-bit limbs `lo`, `hi` of the product of two uint32 values, exactly: a 16-bit half of `a` times `b` stays
 * below 2^48.
 */
function mul32x32(a: number, b: number): [number, number] {
  const low = (a & 0xffff) * b, high = (a >>> 16) * b; // each < 2^48
  const sum = low + (high % 0x10000) * 0x10000; // < 2^49
  return [sum % 0x100000000, Math.floor(high / 0x10000) + Math.floor(sum / 0x100000000)];
}

/** mpi.asm: dwords in S1 and in RES; 64-bit limbs a call of submul_1 and of addmul_1 (twice as many 32-bit ones). */
const MPI_DWORDS = 512, MPI_SUB = 32, MPI_ADD = 16;

/**
 * mpi.asm's res -= s1 * limb (`sub`) or res += s1 * limb over the 32-bit limbs from `at` to `end`: the borrow or
 * carry out (what the 64-bit form computes too, its multiplier below 2^32).
 */
function mulAccumulate(res: Uint32Array, s1: Uint32Array, at: number, end: number, limb: number, sub: boolean): number {
  let cy = 0;
  for (let i = at; i < end; i++) {
    let [lo, hi] = mul32x32(s1[i], limb);
    lo += cy;
    if (lo >= 0x100000000) {
      lo -= 0x100000000;
      hi++;
    }
    let x = sub ? res[i] - lo : res[i] + lo;
    if (x < 0 || x >= 0x100000000) {
      x = sub ? x + 0x100000000 : x - 0x100000000;
      hi++;
    }
    res[i] = x;
    cy = hi;
  }
  return cy;
}

/** mpi.asm's checksum for N iterations. */
function mpiChecksum(n: number): number {
  const s1 = new Uint32Array(MPI_DWORDS), res = new Uint32Array(MPI_DWORDS);
  let x = 12345;
  for (let i = 0; i < MPI_DWORDS; i++) s1[i] = x = xorshift(x);
  for (let i = 0; i < MPI_DWORDS; i++) res[i] = x = xorshift(x);
  let ebx = 0;
  for (let k = n; k >= 1; k--) {
    const a = Math.imul(k, 0x9e3779b1) >>> 0;
    for (let i = 0; i < MPI_DWORDS; i += 2 * MPI_SUB) {
      ebx = (ebx + mulAccumulate(res, s1, i, i + 2 * MPI_SUB, a, true)) >>> 0;
    }
    for (let i = 0; i < MPI_DWORDS; i += 2 * MPI_ADD) {
      ebx = (ebx + mulAccumulate(res, s1, i, i + 2 * MPI_ADD, a >>> 1, false)) >>> 0;
    }
    ebx = rol((ebx + res[k & (MPI_DWORDS - 1)]) >>> 0, 3);
  }
  return ebx;
}

/** Instructions of one call of mpi.asm's function with a loop of `body` a limb over `limbs`, `around` it. */
function mpiCall(around: number, body: number, limbs: number): number {
  return around + body * limbs;
}

const SIEVE = sievePass();
const SORT = sortPass();
const FIB20 = fibModel(20);
/** _kernel.inc: `call make_user_low` (1 + 1032 with its ret) and `lgdt`. */
const KERNEL_SETUP = 1 + 1032 + 1;
/** _kernel.inc: `call set_gate` (1 + 10 with its ret). */
const SET_GATE = 1 + 10;
/** pagefault.asm: pages a pass; its #PF handler (12, the faulting access not counted); `call unmap_all`. */
const PF_PAGES = 64, PF_HANDLER = 12, UNMAP_ALL = 1 + 2 + PF_PAGES * 7 + 1;
/** ctxswitch.asm: `switch` from its `pop` to its IRET. */
const SWITCH = 1 + 6 + 1 + 3 + 1;
/** pagewalk.asm: 3072 pages from 4 MiB to 16 MiB. */
const WALK_PAGES = 3072;

/** Every workload, the empty guest first. */
export const WORKLOADS: readonly Workload[] = [
  {
    name: "empty",
    description: "returns at once: the start-up baseline",
    mainFixed: 2,
    perIteration: 0,
    checksum: () => 0x600dc0de,
  },
  {
    name: "alu",
    description: "register arithmetic loop (add, xor, rol, imul, sub)",
    mainFixed: 4 + 3,
    perIteration: 8,
    checksum(n) {
      let eax = 0x12345678, edx = 0x9abcdef0, ebx = 1;
      for (let ecx = n; ecx >= 1; ecx--) {
        eax = (eax + edx) >>> 0;
        edx = (edx ^ eax) >>> 0;
        eax = rol(eax, 7);
        ebx = Math.imul(ebx, 16777619) >>> 0;
        ebx = (ebx + eax) >>> 0;
        edx = (edx - ecx) >>> 0;
      }
      return (eax ^ edx ^ ebx) >>> 0;
    },
  },
  {
    name: "memcpy_loop",
    description: "16 KiB copy, one dword per loop iteration",
    mainFixed: FILL_SRC + 1 + FOLD_DST,
    perIteration: 6 + 6 * BUF_DWORDS + 2,
    checksum: memcpyChecksum,
  },
  {
    name: "memcpy_rep",
    description: "16 KiB copy by rep movsb",
    mainFixed: FILL_SRC + 1 + FOLD_DST,
    perIteration: 6 + BUF_BYTES + 2,
    checksum: memcpyChecksum,
  },
  {
    name: "memset_loop",
    description: "16 KiB fill, one dword per loop iteration",
    mainFixed: 2 + FOLD_DST,
    perIteration: 4 + 4 * BUF_DWORDS + 2,
    checksum: (n) => memsetChecksum(n, false),
  },
  {
    name: "memset_rep",
    description: "16 KiB fill by rep stosb",
    mainFixed: 2 + FOLD_DST,
    perIteration: 4 + BUF_BYTES + 2,
    checksum: (n) => memsetChecksum(n, true),
  },
  {
    name: "sieve",
    description: "sieve of Eratosthenes over 0..8191",
    mainFixed: 2 + 2,
    perIteration: SIEVE.instructions,
    checksum: (n) => foldAndRepeatChecksum(SIEVE.primes, n),
  },
  {
    name: "sort",
    description: "insertion sort of 512 pseudo-random dwords",
    mainFixed: 2 + 2,
    perIteration: SORT.instructions,
    checksum(n) {
      let ebx = 0;
      for (let edx = n; edx >= 1; edx--) ebx = rol((ebx + SORT.sorted[edx & 511]) >>> 0, 3);
      return ebx;
    },
  },
  {
    name: "fib",
    description: "recursive fib(20): 21891 calls, 20 deep",
    mainFixed: 2 + 2,
    perIteration: 6 + FIB20.instructions,
    checksum: (n) => foldAndRepeatChecksum(FIB20.value, n),
  },
  {
    name: "pagewalk",
    description: "read-modify-write one dword in each of 3072 pages (4 KiB paging)",
    mainFixed: 2 + 2,
    perIteration: 4 + 8 * WALK_PAGES + 3,
    checksum(n) {
      // Every page at one offset holds the same history, so one sum per offset suffices.
      const sums = new Float64Array(1024);
      const countdown = WALK_PAGES * (WALK_PAGES + 1) / 2; // ecx from 3072 down to 1
      let ebx = 0;
      for (let edx = n; edx >= 1; edx--) {
        const off = edx & 1023;
        sums[off] = (sums[off] + WALK_PAGES * edx + countdown) % 0x100000000;
        ebx = rol((ebx + sums[off]) >>> 0, 1);
      }
      return ebx;
    },
  },
  {
    name: "portio",
    description: "one `out` (an exit to the host on kvmkit) per 4 instructions",
    mainFixed: 2 + 1,
    perIteration: 4,
    checksum: (n) => (n * (n + 1) / 2) % 0x100000000,
  },
  {
    name: "syscall",
    description: "system calls from CPL 3 and back (SYSCALL/SYSRET; SYSENTER/SYSEXIT in 32-bit mode)",
    mainFixed: KERNEL_SETUP + 16 + 3 + 3 + 7,
    perIteration: 12,
    checksum(n) {
      let ebx = 0;
      for (let x = n; x >= 1; x--) ebx = (ebx + ((Math.imul(x, 0x9e3779b1) ^ 0x5a5a5a5a) >>> 0)) >>> 0;
      return ebx;
    },
  },
  {
    name: "pagefault",
    description: "64 pages a pass: #PF on each, the handler maps it (IRET), then unmapped with INVLPG",
    mainFixed: 2 + SET_GATE + UNMAP_ALL + 2 + 2,
    perIteration: 2 + PF_PAGES * (1 + PF_HANDLER + 4) + UNMAP_ALL + 2,
    faultsPerIteration: PF_PAGES,
    checksum(n) {
      let ebx = 0, before = 0;
      for (let edx = n; edx >= 1; edx--) {
        ebx = (ebx + PF_PAGES * before) >>> 0;
        before = edx;
      }
      return ebx;
    },
  },
  {
    name: "ctxswitch",
    description: "two tasks switching: IRET frame, stack exchange, CR3 reload, IRET (IRETQ)",
    // make_second_root (1 + 9); task B's frame 7 and its slot 1; 2 + 2 around the loop; B's first turn has no `jmp`.
    mainFixed: 10 + 7 + 1 + 2 + 2 - 1,
    perIteration: 2 + SWITCH + 3 + SWITCH + 2,
    checksum(n) {
      let ebx = 0;
      for (let edx = n; edx >= 1; edx--) ebx = rol((ebx + edx) >>> 0, 3);
      return ebx;
    },
  },
  {
    name: "timer",
    description: "LAPIC timer interrupts (one-shot, 1 us), each awaited with STI; HLT; EOI and IRET",
    // set_gate (2 + 11); the LAPIC's mapping 3; LAPIC set-up 4; 2 + 2 around the loop.
    mainFixed: 2 + SET_GATE + 3 + 4 + 2 + 2,
    perIteration: 3 + 2 + 4,
    checksum: (n) => (n * (n + 1) / 2) % 0x100000000,
    irqchip: true,
  },
  {
    name: "mpi",
    description: "the kernel's mpihelp_submul_1 and mpihelp_addmul_1 over a 2 KiB number (RSA signature check)",
    // the fill 3 + 13 x 1024; xor, mov; mov, ret
    mainFixed: 3 + 13 * 2 * MPI_DWORDS + 2 + 2,
    // 64-bit: outer 2 + 2 + 6; per call 9 in main, 17 in the function before its loop (whose first pass skips a
    // movsxd) and 7 after it; loops of 38 (submul_1) and 37 instructions a limb.
    perIteration: 2 + 2 + 6 + (MPI_DWORDS / 2 / MPI_SUB) * (9 + mpiCall(17 - 1 + 7, 38, MPI_SUB)) +
      (MPI_DWORDS / 2 / MPI_ADD) * (9 + mpiCall(17 - 1 + 7, 37, MPI_ADD)),
    // 32-bit: outer 3 + 2 + 8; per call 9 in main, 5 + 3 in the function; loops of 9 instructions a 32-bit limb.
    perIterationIn: {
      32: 3 + 2 + 8 + (MPI_DWORDS / 2 / MPI_SUB) * (9 + mpiCall(5 + 3, 9, 2 * MPI_SUB)) +
        (MPI_DWORDS / 2 / MPI_ADD) * (9 + mpiCall(5 + 3, 9, 2 * MPI_ADD)),
    },
    checksum: mpiChecksum,
  },
];

/** The workload named `name`; throws RangeError naming the known ones. */
export function workload(name: string): Workload {
  const w = WORKLOADS.find((x) => x.name === name);
  if (!w) {
    throw new RangeError(`unknown workload "${name}": expected one of ${WORKLOADS.map((x) => x.name).join(", ")}`);
  }
  return w;
}
