#!/usr/bin/env python3
"""Generates tests/emu/sse/vectors.txt: SSE instructions run on the host CPU.

Each case is one instruction (nasm syntax; encodings without REX, so the
bytes mean the same in 32-bit mode), inputs XMM0-2 (the memory operand at
[rsi]/[esi] is a copy of XMM2), MXCSR, EAX/ECX/EDX and the arithmetic
flags, and the state the host CPU leaves. Needs nasm and gcc.

    python3 tools/sse_vectors.py > tests/emu/sse/vectors.txt
"""
import os, random, struct, subprocess, sys, tempfile

random.seed(int(os.environ.get("SEED", "5")))
HERE = os.path.dirname(os.path.abspath(__file__))

F32 = [0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x3dcccccd, 0x7f7fffff, 0xff7fffff,
       0x00800000, 0x80800000, 0x00000001, 0x007fffff, 0x80400000, 0x7f800000, 0xff800000, 0x7fc00000,
       0x7fc12345, 0xffc00001, 0x7f800001, 0xffa00000, 0x7149f2ca, 0x0da24260, 0x40400000, 0x40e00000,
       0x4b800001, 0x4f000000, 0xcf000000, 0x4effffff, 0x3f000000, 0xbfc00000, 0x40490fdb, 0x00c00000,
       0x01000001, 0x7effffff, 0x33800000, 0x34000001]
F64 = [0x0, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000, 0x3ff8000000000000, 0x3fb999999999999a,
       0x7fefffffffffffff, 0xffefffffffffffff, 0x0010000000000000, 0x8010000000000000, 0x0000000000000001,
       0x000fffffffffffff, 0x8008000000000000, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
       0x7ff8000000012345, 0x7ff0000000000001, 0xfff4000000000000, 0x4008000000000000, 0x401c000000000000,
       0x41e0000000000000, 0xc1e0000000000000, 0x41dfffffffc00000, 0x41dfffffffe00000, 0x3fe0000000000000,
       0x400921fb54442d18, 0x47efffffe0000000, 0x47efffffefffffff, 0x36a0000000000000, 0x3690000000000001,
       0x0018000000000000, 0x7fe0000000000000, 0x3ca0000000000000, 0x4340000000000001]


def rnd_float(specials, fmt, span, bits):
    """A lane's bits: one of `specials`, a random value in (-span, span) as float format `fmt`, or random bits."""
    r = random.random()
    if r < 0.55:
        return random.choice(specials)
    if r < 0.75:
        as_int = {"f": "<I", "d": "<Q"}[fmt]
        return struct.unpack(as_int, struct.pack("<" + fmt, random.uniform(-span, span)))[0]
    return random.getrandbits(bits)


def rnd_f32():
    return rnd_float(F32, "f", 1000, 32)


def rnd_f64():
    return rnd_float(F64, "d", 1e6, 64)


def rnd_int32():
    return random.choice([0, 1, 0xffffffff, 0x80000000, 0x7fffffff, 0x8000, 0x7fff, 0xff, 0x80, 0x7f,
                          random.getrandbits(32), random.getrandbits(32), random.getrandbits(8),
                          random.getrandbits(16), 0x00ff00ff, 0x80008000])


def vec(kind):
    if kind == "ps":
        lanes = [rnd_f32() for _ in range(4)]
        return "".join("%08x" % v for v in reversed(lanes))
    if kind == "pd":
        lanes = [rnd_f64() for _ in range(2)]
        return "".join("%016x" % v for v in reversed(lanes))
    if kind == "byte":
        return "".join("%02x" % random.choice([0, 0x7f, 0x80, 0xff, 1, random.getrandbits(8)]) for _ in range(16))
    if kind == "str":
        alpha = [0, 0x41, 0x42, 0x43, 0x61, 0x7a, 0x30, 0x39, 0x80, 0xff]
        b = [random.choice(alpha) for _ in range(16)]
        if random.random() < 0.5:
            b[random.randrange(16)] = 0
        return "".join("%02x" % v for v in reversed(b))
    if kind == "count":
        return "%032x" % random.choice([0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 1 << 40])
    lanes = [rnd_int32() for _ in range(4)]
    return "".join("%08x" % v for v in reversed(lanes))


MXCSRS = [0x1f80] * 4 + [0x3f80, 0x5f80, 0x7f80, 0x9fc0, 0x1fc0, 0x9f80, 0xff80, 0xbf80]

# (asm, operand kind of xmm0/xmm1/xmm2, cases, vary mxcsr)
CASES = []


def add(asm, kind, n=6, modes=False, k1=None, k2=None):
    CASES.append((asm, kind, k1 or kind, k2 or kind, n, modes))


def build():
    fl = ["ps", "ss", "pd", "sd"]
    for op in ["add", "sub", "mul", "div", "min", "max", "sqrt"]:
        for f in fl:
            kind = "ps" if f in ("ps", "ss") else "pd"
            add(f"{op}{f} xmm0, xmm1", kind, 16, True)
        add(f"{op}ps xmm0, [rsi]", "ps", 3, True)
        add(f"{op}sd xmm0, [rsi]", "pd", 3, True)
    for f in fl:
        kind = "ps" if f in ("ps", "ss") else "pd"
        for p in range(8):
            add(f"cmp{f} xmm0, xmm1, {p}", kind, 5, True)
    for i in ["comiss", "ucomiss"]:
        add(f"{i} xmm0, xmm1", "ps", 14, True)
    for i in ["comisd", "ucomisd"]:
        add(f"{i} xmm0, xmm1", "pd", 14, True)
    for i in ["addsubps", "haddps", "hsubps"]:
        add(f"{i} xmm0, xmm1", "ps", 6, True)
    for i in ["addsubpd", "haddpd", "hsubpd"]:
        add(f"{i} xmm0, xmm1", "pd", 6, True)
    add("cvtss2sd xmm0, xmm1", "ps", 12, True)
    add("cvtsd2ss xmm0, xmm1", "pd", 16, True)
    add("cvtps2pd xmm0, xmm1", "ps", 8, True)
    add("cvtpd2ps xmm0, xmm1", "pd", 12, True)
    add("cvtdq2ps xmm0, xmm1", "int", 8, True)
    add("cvtdq2pd xmm0, xmm1", "int", 4)
    for i in ["cvtps2dq", "cvttps2dq"]:
        add(f"{i} xmm0, xmm1", "ps", 12, True)
    for i in ["cvtpd2dq", "cvttpd2dq"]:
        add(f"{i} xmm0, xmm1", "pd", 12, True)
    add("cvtsi2ss xmm0, eax", "ps", 8, True)
    add("cvtsi2sd xmm0, eax", "pd", 4, True)
    add("cvtsi2ss xmm0, [rsi]", "int", 4, True)
    for i in ["cvtss2si", "cvttss2si"]:
        add(f"{i} eax, xmm1", "ps", 12, True)
    for i in ["cvtsd2si", "cvttsd2si"]:
        add(f"{i} eax, xmm1", "pd", 12, True)
    add("cvtsd2si eax, [rsi]", "pd", 3, True)
    for i in ["andps", "andnps", "orps", "xorps", "andpd", "andnpd", "orpd", "xorpd", "unpcklps", "unpckhps",
              "unpcklpd", "unpckhpd"]:
        add(f"{i} xmm0, xmm1", "int", 2)
    add("shufps xmm0, xmm1, 0x1b", "int", 2)
    add("shufps xmm0, [rsi], 0xe4", "int", 2)
    add("shufpd xmm0, xmm1, 2", "int", 2)
    add("shufpd xmm0, xmm1, 1", "int", 2)
    moves = ["movaps xmm0, xmm1", "movaps xmm0, [rsi]", "movups xmm0, [rsi]", "movaps [rsi], xmm1",
             "movups [rsi], xmm0", "movapd xmm1, xmm0", "movupd xmm0, [rsi]", "movss xmm0, xmm1",
             "movss xmm0, [rsi]", "movss [rsi], xmm1", "movsd xmm0, xmm1", "movsd xmm0, [rsi]", "movsd [rsi], xmm1",
             "movlps xmm0, [rsi]", "movhps xmm0, [rsi]", "movlps [rsi], xmm1", "movhps [rsi], xmm1",
             "movlpd xmm0, [rsi]", "movhpd xmm0, [rsi]", "movhlps xmm0, xmm1", "movlhps xmm0, xmm1",
             "movd xmm0, eax", "movd eax, xmm1", "movd xmm0, [rsi]", "movd [rsi], xmm1", "movq xmm0, xmm1",
             "movq xmm0, [rsi]", "movq [rsi], xmm1", "movdqa xmm0, [rsi]", "movdqa [rsi], xmm1",
             "movdqu xmm0, xmm1", "movdqu [rsi], xmm1", "lddqu xmm0, [rsi]", "movddup xmm0, xmm1",
             "movddup xmm0, [rsi]", "movshdup xmm0, xmm1", "movsldup xmm0, [rsi]", "movmskps eax, xmm1",
             "movmskpd eax, xmm1", "pmovmskb eax, xmm1", "movntps [rsi], xmm1", "movntdq [rsi], xmm1",
             "movnti [rsi], eax", "movntpd [rsi], xmm0", "stmxcsr [rsi]", "ldmxcsr [rsi+4]"]
    for m in moves:
        add(m, "int", 2)
    ints = ["paddb", "paddw", "paddd", "paddq", "psubb", "psubw", "psubd", "psubq", "paddsb", "paddsw", "paddusb",
            "paddusw", "psubsb", "psubsw", "psubusb", "psubusw", "pmullw", "pmulhw", "pmulhuw", "pmuludq", "pmaddwd",
            "psadbw", "pavgb", "pavgw", "pminub", "pmaxub", "pminsw", "pmaxsw", "pand", "pandn", "por", "pxor",
            "pcmpeqb", "pcmpeqw", "pcmpeqd", "pcmpgtb", "pcmpgtw", "pcmpgtd", "punpcklbw", "punpcklwd", "punpckldq",
            "punpcklqdq", "punpckhbw", "punpckhwd", "punpckhdq", "punpckhqdq", "packsswb", "packuswb", "packssdw"]
    for i in ints:
        add(f"{i} xmm0, xmm1", "byte" if i[-1] == "b" else "int", 4)
    add("paddd xmm0, [rsi]", "int", 2)
    add("pcmpeqb xmm0, [rsi]", "byte", 2)
    for i in ["psrlw", "psraw", "psllw", "psrld", "psrad", "pslld", "psrlq", "psllq"]:
        add(f"{i} xmm0, xmm1", "int", 5, k1="count")
        for c in [0, 1, 7, 15, 16, 31, 33, 63, 64, 200]:
            if c > 31 and i[-1] == "w" and c not in (200,):
                continue
            add(f"{i} xmm0, {c}", "int", 1)
    for c in [0, 1, 5, 15, 16, 40]:
        add(f"psrldq xmm0, {c}", "int", 1)
        add(f"pslldq xmm0, {c}", "int", 1)
    for imm in [0x1b, 0xe4, 0x00, 0xff, 0x4e]:
        add(f"pshufd xmm0, xmm1, {imm}", "int", 1)
        add(f"pshuflw xmm0, xmm1, {imm}", "int", 1)
        add(f"pshufhw xmm0, [rsi], {imm}", "int", 1)
    add("pinsrw xmm0, eax, 3", "int", 2)
    add("pinsrw xmm0, [rsi], 7", "int", 2)
    add("pextrw eax, xmm1, 5", "int", 2)
    # MMX: operands moved in from xmm0/xmm1 and the result back to xmm0, then EMMS.
    mm_in, mm_out = "movdq2q mm0, xmm0; movdq2q mm1, xmm1; ", "; movq2dq xmm0, mm0; emms"
    mmx_ops = ["paddb", "paddw", "paddd", "paddq", "psubb", "psubw", "psubd", "psubq", "paddsb", "paddsw",
               "paddusb", "paddusw", "psubsb", "psubsw", "psubusb", "psubusw", "pmullw", "pmulhw", "pmulhuw",
               "pmuludq", "pmaddwd", "psadbw", "pavgb", "pavgw", "pminub", "pmaxub", "pminsw", "pmaxsw", "pand",
               "pandn", "por", "pxor", "pcmpeqb", "pcmpeqw", "pcmpeqd", "pcmpgtb", "pcmpgtw", "pcmpgtd", "punpcklbw",
               "punpcklwd", "punpckldq", "punpckhbw", "punpckhwd", "punpckhdq", "packsswb", "packuswb", "packssdw",
               "pshufb", "phaddw", "phaddd", "phaddsw", "phsubw", "phsubd", "phsubsw", "pmaddubsw", "pmulhrsw",
               "psignb", "psignw", "psignd", "pabsb", "pabsw", "pabsd"]
    for i in mmx_ops:
        add(f"{mm_in}{i} mm0, mm1{mm_out}", "byte" if i[-1] == "b" else "int", 3)
    add(f"{mm_in}paddw mm0, [rsi]{mm_out}", "int", 2)
    for i in ["psrlw", "psraw", "psllw", "psrld", "psrad", "pslld", "psrlq", "psllq"]:
        add(f"{mm_in}{i} mm0, mm1{mm_out}", "int", 3, k1="count")
        add(f"{mm_in}{i} mm0, 5{mm_out}", "int", 1)
        add(f"{mm_in}{i} mm0, 33{mm_out}", "int", 1)
    for i in ["pshufw mm0, mm1, 0x1b", "palignr mm0, mm1, 3", "palignr mm0, mm1, 12", "pinsrw mm0, eax, 2",
              "movd mm0, eax", "movd mm0, [rsi]", "movq mm0, [rsi]", "movq mm0, mm1"]:
        add(f"{mm_in}{i}{mm_out}", "int", 2)
    for i in ["pextrw eax, mm1, 3", "pmovmskb eax, mm1", "movd eax, mm1", "movd [rsi], mm1", "movq [rsi], mm1",
              "movntq [rsi], mm1"]:
        add(f"{mm_in}{i}{mm_out}", "byte", 2)
    add("movdq2q mm1, xmm1; cvtpi2ps xmm0, mm1; emms", "int", 4, True)
    add("movdq2q mm1, xmm1; cvtpi2pd xmm0, mm1; emms", "int", 2)
    add("cvtpi2ps xmm0, [rsi]; emms", "int", 2, True)
    for i in ["cvtps2pi", "cvttps2pi"]:
        add(f"{i} mm0, xmm1; movq2dq xmm0, mm0; emms", "ps", 6, True)
    for i in ["cvtpd2pi", "cvttpd2pi"]:
        add(f"{i} mm0, xmm1; movq2dq xmm0, mm0; emms", "pd", 6, True)
    # 64-bit mode only (REX): run in a 64-bit guest.
    for i in ["movq xmm0, rax", "movq rax, xmm1", "cvtsi2sd xmm0, rcx", "cvtsi2ss xmm0, rcx", "cvtsd2si rax, xmm1",
              "cvttsd2si rax, xmm1", "cvtss2si rax, xmm1", "cvttss2si rax, xmm1", "pinsrq xmm0, rcx, 1",
              "pextrq rax, xmm1, 1", "pextrq [rsi], xmm1, 0", "popcnt rax, rcx", "lzcnt rax, rcx", "tzcnt rax, rcx",
              "crc32 rax, rcx", "crc32 rax, qword [rsi]", "andn rax, rcx, rdx", "bextr rax, rcx, rdx",
              "blsi rax, rcx", "blsmsk rax, rcx", "blsr rax, rcx", "bzhi rax, rcx, rdx", "pdep rax, rcx, rdx",
              "pext rax, rcx, rdx", "mulx rax, rcx, rdx", "rorx rax, rcx, 37", "sarx rax, rcx, rdx",
              "shlx rax, rcx, rdx", "shrx rax, rcx, rdx", "movbe rax, [rsi]", "movbe [rsi], rcx", "adcx rax, rcx",
              "adox rax, rcx", "movnti [rsi], rcx"]:
        kind = "pd" if "cvt" in i and ("sd" in i or "2sd" in i) else "ps" if "cvt" in i else "int"
        pre = "movq rcx, xmm1; movq rdx, xmm2; movq rax, xmm0; " if "cvtsi" not in i else "movq rcx, xmm2; "
        add(f"{pre}{i}", kind, 6, "cvt" in i)
    for i in ["movdqa xmm8, xmm1; paddd xmm8, xmm0; movdqa xmm0, xmm8", "movaps xmm12, [rsi]; movaps xmm1, xmm12",
              "movq r9, xmm1; movq xmm0, r9", "pxor xmm15, xmm15; pcmpeqb xmm15, xmm1; pmovmskb r10d, xmm15; mov eax, r10d",
              "movdqa xmm9, xmm1; pshufb xmm9, xmm2; movdqa xmm0, xmm9", "mov r8, rsi; movups xmm0, [r8]"]:
        add(i, "byte", 3)
    for i in ["pshufb", "phaddw", "phaddd", "phaddsw", "phsubw", "phsubd", "phsubsw", "pmaddubsw", "pmulhrsw",
              "psignb", "psignw", "psignd", "pabsb", "pabsw", "pabsd", "pmulld", "pmuldq", "pminsb", "pminsd",
              "pminuw", "pminud", "pmaxsb", "pmaxsd", "pmaxuw", "pmaxud", "pcmpeqq", "pcmpgtq", "packusdw",
              "ptest", "phminposuw", "aesenc", "aesenclast", "aesdec", "aesdeclast", "aesimc"]:
        add(f"{i} xmm0, xmm1", "byte" if i[-1] == "b" else "int", 4)
    add("pshufb xmm0, [rsi]", "byte", 2)
    for a in ["bw", "bd", "bq", "wd", "wq", "dq"]:
        add(f"pmovsx{a} xmm0, xmm1", "byte", 2)
        add(f"pmovzx{a} xmm0, xmm1", "byte", 2)
    add("pmovsxbw xmm0, [rsi]", "byte", 2)
    add("pmovzxbq xmm0, [rsi]", "byte", 2)
    add("pmovsxwq xmm0, [rsi]", "byte", 2)
    for imm in [0, 3, 9, 15, 16, 17, 31, 32]:
        add(f"palignr xmm0, xmm1, {imm}", "int", 1)
    for imm in [0x00, 0x5a, 0xff, 0x81]:
        add(f"pblendw xmm0, xmm1, {imm}", "int", 1)
        add(f"blendps xmm0, xmm1, {imm & 15}", "int", 1)
        add(f"blendpd xmm0, [rsi], {imm & 3}", "int", 1)
        add(f"mpsadbw xmm0, xmm1, {imm & 7}", "byte", 1)
        add(f"insertps xmm0, xmm1, {imm}", "int", 1)
        add(f"pclmulqdq xmm0, xmm1, {imm & 0x11}", "int", 1)
        add(f"aeskeygenassist xmm0, xmm1, {imm}", "int", 1)
    for i in ["blendvps", "blendvpd", "pblendvb"]:
        add(f"{i} xmm1, xmm2", "int", 3)
    for k in range(4):
        add(f"extractps eax, xmm1, {k}", "int", 1)
        add(f"pextrd eax, xmm1, {k}", "int", 1)
        add(f"pinsrd xmm0, eax, {k}", "int", 1)
    add("pextrb eax, xmm1, 13", "int", 2)
    add("pextrb [rsi], xmm1, 3", "int", 1)
    add("pextrw [rsi], xmm1, 6", "int", 1)
    add("pinsrb xmm0, eax, 9", "int", 2)
    add("pinsrb xmm0, [rsi], 2", "int", 1)
    for imm in list(range(16)):
        add(f"roundps xmm0, xmm1, {imm}", "ps", 2, True)
        add(f"roundsd xmm0, xmm1, {imm}", "pd", 2, True)
    add("roundss xmm0, [rsi], 4", "ps", 4, True)
    add("roundpd xmm0, xmm1, 1", "pd", 4, True)
    for imm in [0xff, 0xf1, 0x3f, 0x52, 0xa5, 0x7c]:
        add(f"dpps xmm0, xmm1, {imm}", "ps", 3, True)
        add(f"dppd xmm0, xmm1, {imm & 0x33}", "pd", 3, True)
    for i in ["pcmpestri", "pcmpestrm", "pcmpistri", "pcmpistrm"]:
        for imm in [0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x30, 0x40, 0x44, 0x1a, 0x3a, 0x70, 0x4c, 0x02, 0x65]:
            add(f"{i} xmm1, xmm2, {imm}", "str", 2)
        add(f"{i} xmm1, [rsi], 0x0c", "str", 2)
    for i in ["crc32 eax, cl", "crc32 eax, cx", "crc32 eax, ecx", "crc32 eax, byte [rsi]", "crc32 eax, dword [rsi]",
              "popcnt eax, ecx", "popcnt ax, cx", "popcnt eax, [rsi]", "lzcnt eax, ecx", "lzcnt ax, cx",
              "tzcnt eax, ecx", "tzcnt ax, cx", "andn eax, ecx, edx", "bextr eax, ecx, edx", "bextr eax, [rsi], edx",
              "blsi eax, ecx", "blsmsk eax, ecx", "blsr eax, ecx", "bzhi eax, ecx, edx", "pdep eax, ecx, edx",
              "pext eax, ecx, edx", "mulx eax, ecx, edx", "mulx eax, ecx, [rsi]", "rorx eax, ecx, 5",
              "rorx eax, ecx, 31", "sarx eax, ecx, edx", "shlx eax, ecx, edx", "shrx eax, [rsi], edx",
              "movbe eax, [rsi]", "movbe ax, [rsi]", "movbe [rsi], ecx", "adcx eax, ecx", "adox eax, ecx",
              "adcx eax, [rsi]"]:
        add(i, "int", 6)


def asm_bytes(lines, bits):
    with tempfile.TemporaryDirectory() as t:
        src = os.path.join(t, "a.asm")
        with open(src, "w") as f:
            f.write(f"bits {bits}\n")
            f.write("dd " + ", ".join(f"L{i}" for i in range(len(lines) + 1)) + "\n")
            for i, l in enumerate(lines):
                f.write(f"L{i}: {l}\n")
            f.write(f"L{len(lines)}:\n")
        subprocess.run(["nasm", "-f", "bin", "-o", os.path.join(t, "a.bin"), src], check=True, capture_output=True)
        b = open(os.path.join(t, "a.bin"), "rb").read()
    offs = struct.unpack_from(f"<{len(lines) + 1}I", b)
    return [b[offs[i]:offs[i + 1]] for i in range(len(lines))]


PRO = ["push rbx", "push rsi", "mov r11, rdi"] + [f"movdqu xmm{i}, [r11+{16 * i}]" for i in range(8)] + [
    "ldmxcsr [r11+128]", "mov eax, [r11+132]", "mov ecx, [r11+136]", "mov edx, [r11+140]", "lea rsi, [r11+160]",
    "push qword [r11+144]", "popfq"]
EPI = ["pushfq", "pop qword [r11+144]", "mov [r11+132], eax", "mov [r11+136], ecx", "mov [r11+140], edx",
       "shr rax, 32", "shr rcx, 32", "shr rdx, 32", "mov [r11+224], eax", "mov [r11+228], ecx",
       "mov [r11+232], edx", "stmxcsr [r11+128]"] + [f"movdqu [r11+{16 * i}], xmm{i}" for i in range(8)] + ["pop rsi", "pop rbx", "ret"]


def main():
    build()
    insns = [c[0].replace("; ", "\n") for c in CASES]
    b64 = asm_bytes(insns, 64)
    # A case runs in 32-bit mode when its bytes mean the same there, else in a 64-bit guest.
    guest_modes = []
    for a in insns:
        try:
            b32 = asm_bytes([a.replace("rsi", "esi")], 32)[0]
        except subprocess.CalledProcessError:
            b32 = None
        guest_modes.append(32 if b32 == b64[len(guest_modes)] else 64)
    # One stub per instruction.
    stubs = []
    for i, a in enumerate(insns):
        stubs.append(f"S{i}:")
        stubs += PRO + [a] + EPI
    with tempfile.TemporaryDirectory() as t:
        src = os.path.join(t, "s.asm")
        with open(src, "w") as f:
            f.write("bits 64\n")
            f.write("dd " + ", ".join(f"S{i}" for i in range(len(insns))) + "\n")
            f.write("\n".join(stubs) + "\n")
        subprocess.run(["nasm", "-f", "bin", "-o", os.path.join(t, "s.bin"), src], check=True)
        sb = open(os.path.join(t, "s.bin"), "rb").read()
        soffs = struct.unpack_from(f"<{len(insns)}I", sb)
        exe = os.path.join(t, "h")
        subprocess.run(["gcc", "-O1", "-o", exe, os.path.join(HERE, "sse_harness.c")], check=True)
        inputs, meta = [], []
        for i, (asm, k0, k1, k2, n, modes) in enumerate(CASES):
            for _ in range(n):
                x = [vec(k0), vec(k1), vec(k2)]
                if "ldmxcsr" in asm:
                    x[2] = x[2][:16] + "%08x" % (random.choice(MXCSRS) | random.getrandbits(6)) + "00000000"
                mx = random.choice(MXCSRS) if modes else 0x1f80
                regs = [rnd_int32(), rnd_int32(), rnd_int32()]
                if "pcmpe" in asm:
                    regs = [random.randint(-20, 20) & 0xffffffff, regs[1], random.randint(-20, 20) & 0xffffffff]
                if asm.startswith(("bextr", "bzhi")) and random.random() < 0.7:
                    regs[2] = random.randint(0, 40) | (random.randint(0, 40) << 8)
                fl = random.choice([0x2, 0x8d7])
                inputs.append(f"{soffs[i]:x} {x[0]} {x[1]} {x[2]} {mx:x} {regs[0]:x} {regs[1]:x} {regs[2]:x} {fl:x}")
                meta.append((asm, b64[i].hex(), x, mx, regs, fl, guest_modes[i]))
        out = subprocess.run([exe, os.path.join(t, "s.bin")], input="\n".join(inputs) + "\n", capture_output=True,
                             text=True, check=True).stdout.split("\n")
    print("# SSE instruction vectors recorded on the host CPU (an AMD EPYC) by tools/sse_vectors.py")
    print("# (seed %s). One case per line after these comments, fields separated by \"|\": asm, bytes, mode (32: run in a flat" % os.environ.get("SEED", "5"))
    print("# 32-bit guest, 64: REX or 64-bit registers, run in a 64-bit guest), then the inputs xmm0, xmm1,")
    print("# xmm2, mxcsr, eax, ecx, edx, flags, then the outputs xmm0, xmm1, xmm2, mxcsr, eax, ecx, edx,")
    print("# arithmetic flags, the 16 bytes at esi, the high halves of rax, rcx, rdx (\"=\": unchanged or")
    print("# zero for the high halves). XMM values are 32 hex digits, most")
    print("# significant first; numbers are hex. The memory operand at [esi] holds a copy of xmm2.")
    print("# Generated: do not edit.")
    for (asm, hx, x, mx, regs, fl, mode), o in zip(meta, out):
        f = o.split(" ")
        same = [x[0], x[1], x[2], "%x" % mx, "%x" % regs[0], "%x" % regs[1], "%x" % regs[2], None, x[2], "0", "0", "0"]
        o = "|".join("=" if same[i] is not None and f[i] == same[i] else f[i] for i in range(len(f)))
        print(f"{asm}|{hx}|{mode}|{x[0]}|{x[1]}|{x[2]}|{mx:x}|{regs[0]:x}|{regs[1]:x}|{regs[2]:x}|{fl:x}|{o}")


main()
