/**
 * The GDB stub's handlers and run control, driven packet by packet through a
 * session (no socket) and over TCP, on a small real-mode guest on every
 * backend: registers in the i386 view, memory, breakpoints, stepping,
 * watchpoints, Ctrl-C, threads, monitor commands, detach, kill, and the
 * replies to malformed and unknown packets.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import type { Kvm, Vcpu, VcpuExit } from "../../mod.ts";
import { probeSoftwareBreakpoints, serveGdb } from "../../gdb/mod.ts";
import { DebugTarget } from "../../gdb/target.ts";
import { GdbSession } from "../../gdb/session.ts";
import { encodePacket, fromHex, PacketReader } from "../../gdb/packet.ts";
import { backendTest } from "../_support/harness.ts";
import { featureTest, load, type Machine, machine, realMode } from "../_support/guests.ts";

const CODE = 0x1000;
/** Why Deno's sanitizers are off for a test whose guest is still running when the stub closes. */
const RUN_LOOP =
  "gdb/target.ts yields between KVM_RUN slices with setImmediate, whose last turn can end after the stub has closed";
/** The guest: two console writes around an increment of the byte at 0x3000, then hlt; a `jmp $` at LOOP. */
const PROGRAM = [
  "b0 41", //       0x1000 mov al, 0x41
  "e6 e9", //       0x1002 out 0xe9, al
  "fe 06 00 30", // 0x1004 inc byte [0x3000]
  "a0 00 30", //    0x1008 mov al, [0x3000]
  "e6 e9", //       0x100b out 0xe9, al
  "f4", //          0x100d hlt
  "eb fe", //       0x100e jmp $
];
const LOOP = 0x100e;
const DATA = 0x3000;

/** A machine running PROGRAM under a DebugTarget, and what the guest wrote. */
interface Bench extends Disposable {
  m: Machine;
  target: DebugTarget;
  out: number[];
  software: boolean;
}

function bench(kvm: Kvm, extraVcpus: Vcpu[] = []): Bench {
  const m = machine(kvm);
  load(m.mem, CODE, PROGRAM);
  realMode(m.vcpu, CODE);
  const out: number[] = [];
  const software = probeSoftwareBreakpoints(kvm) === undefined;
  const target = new DebugTarget(m.vm, [m.vcpu, ...extraVcpus], {
    softwareBreakpoints: software,
    sliceMs: 10,
    onExit: (exit: VcpuExit) => {
      if (exit.reason === "io" && exit.port === 0xe9) {
        out.push(exit.data[0]);
        return "resume";
      }
      if (exit.reason === "hlt") return { exited: 0 };
      return { stop: 5 };
    },
  });
  return {
    m,
    target,
    out,
    software,
    [Symbol.dispose]() {
      target.kill();
      m[Symbol.dispose]();
    },
  };
}

/** A gdb client talking to a GdbSession directly. */
class Client {
  readonly session: GdbSession;
  readonly #reader = new PacketReader(1 << 20);
  readonly packets: string[] = [];
  acks = 0;
  nacks = 0;
  #waiter?: () => void;

  constructor(target: DebugTarget) {
    this.session = new GdbSession(target, (bytes) => this.#on(bytes), "test");
  }

  #on(bytes: Uint8Array): void {
    for (const e of this.#reader.feed(bytes)) {
      if (e.kind === "packet") this.packets.push(e.payload);
      if (e.kind === "ack") this.acks++;
      if (e.kind === "nack") this.nacks++;
    }
    this.#waiter?.();
  }

  send(payload: string): void {
    this.session.receive(encodePacket(payload));
  }

  /** The next packet from the stub (within `ms`). */
  async next(ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.packets.length === 0) {
      if (Date.now() > deadline) throw new Error(`no reply within ${ms} ms`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 20);
        this.#waiter = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
    return this.packets.shift()!;
  }

  async request(payload: string): Promise<string> {
    this.send(payload);
    return await this.next();
  }
}

const le32 = (hex: string) => parseInt(hex.match(/../g)!.reverse().join(""), 16);
const hexText = (hex: string) => new TextDecoder().decode(fromHex(hex));

backendTest("gdb stub: handshake, target description and registers in the i386 view", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  const features = await c.request("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+");
  for (const f of ["PacketSize=4000", "qXfer:features:read+", "QStartNoAckMode+", "swbreak+", "vContSupported+"]) {
    assert.ok(features.split(";").includes(f), `${f} in ${features}`);
  }
  // The description in pieces, as gdb reads it.
  let xml = "";
  for (let off = 0;;) {
    const piece = await c.request(`qXfer:features:read:target.xml:${off.toString(16)},100`);
    assert.match(piece, /^[ml]/);
    xml += piece.slice(1);
    off += piece.length - 1;
    if (piece[0] === "l") break;
  }
  assert.match(xml, /<architecture>i386<\/architecture>/, "real mode: the i386 view");
  assert.match(xml, /<\/target>$/);
  assert.equal(await c.request("qXfer:features:read:other.xml:0,100"), "E00");
  assert.equal(await c.request("?"), "T05thread:1;");
  assert.equal(await c.request("qfThreadInfo"), "m1");
  assert.equal(await c.request("qsThreadInfo"), "l");
  assert.equal(await c.request("qC"), "QC1");
  assert.equal(await c.request("qAttached"), "1");
  assert.equal(hexText(await c.request("qThreadExtraInfo,1")), "vCPU 0");
  assert.ok(c.acks >= 10, "ack mode: every packet acknowledged");

  const g = await c.request("g");
  // 16 x 32-bit core registers, 8 x 80-bit st, 8 x 32-bit x87 control, 8 x xmm, mxcsr, 6 x 64-bit system.
  assert.equal(g.length, 2 * (16 * 4 + 8 * 10 + 8 * 4 + 8 * 16 + 4 + 6 * 8));
  assert.equal(le32(g.slice(8 * 8, 9 * 8)), CODE, "eip");
  assert.equal(le32(await c.request("p8")), CODE);
  assert.equal(await c.request("P0=42000000"), "OK");
  assert.equal(b.m.vcpu.getRegs().rax, 0x42n);
  assert.equal(await c.request(`G${g}`), "OK", "G with the registers as read");
  assert.equal(b.m.vcpu.getRegs().rax, 0n, "eax back to what g read");
  assert.equal(b.m.vcpu.getRegs().rip, BigInt(CODE));
  assert.equal(await c.request("QStartNoAckMode"), "OK");
  const acks = c.acks;
  assert.equal(await c.request("qC"), "QC1");
  assert.equal(c.acks, acks, "no-ack mode: no more acknowledgements");
});

backendTest("gdb stub: m/M/X read and write guest memory; unreachable memory is E0e", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  assert.equal(await c.request(`m${CODE.toString(16)},4`), "b041e6e9");
  assert.equal(await c.request(`M${DATA.toString(16)},2:5aa5`), "OK");
  assert.deepEqual([...b.m.mem.bytes.subarray(DATA, DATA + 2)], [0x5a, 0xa5]);
  // X carries binary: bytes that must be escaped on the wire arrive intact.
  const binary = "\x7d\x23\x24\x2a\x00\xff";
  assert.equal(await c.request(`X${(DATA + 4).toString(16)},6:${binary}`), "OK");
  assert.deepEqual([...b.m.mem.bytes.subarray(DATA + 4, DATA + 10)], [0x7d, 0x23, 0x24, 0x2a, 0x00, 0xff]);
  assert.equal(await c.request(`m${(DATA + 4).toString(16)},6`), "7d23242a00ff");
  // Past the end of RAM (64 KiB): a read stops there, a read wholly outside and any write outside fail.
  assert.equal(await c.request("mfffe,4"), "0000");
  assert.equal(await c.request("m20000,4"), "E0e");
  assert.equal(await c.request("M20000,1:00"), "E0e");
  assert.equal(await c.request("M1000,2:00"), "E01", "length and data disagree");
  assert.equal(await c.request("m1000,0"), "");
  // A huge length is clamped to what a packet holds, not refused or allocated.
  const reply = await c.request("m0,ffffffffff");
  assert.ok(reply.length > 0 && reply.length <= 0x4000, `${reply.length} hex digits`);
});

backendTest("gdb stub: Z1 stops at a hardware breakpoint; the stop reply names the thread", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  await c.request("qSupported:swbreak+;hwbreak+");
  assert.equal(await c.request("Z1,1008,1"), "OK");
  assert.equal(await c.request("c"), "T05thread:1;hwbreak:;");
  assert.equal(b.m.vcpu.getRegs().rip, 0x1008n);
  assert.equal(b.m.mem.bytes[DATA], 1, "the instruction before the breakpoint ran");
  assert.deepEqual(b.out, [0x41]);
  assert.equal(await c.request("z1,1008,1"), "OK");
  assert.equal(await c.request("c"), "W00", "no breakpoint left: the guest runs to its hlt");
  assert.deepEqual(b.out, [0x41, 1]);
});

backendTest(
  "gdb stub: Z0 stops at a breakpoint (int3, or a debug register where the backend ignores int3)",
  async (kvm) => {
    using b = bench(kvm);
    const c = new Client(b.target);
    await c.request("qSupported:swbreak+;hwbreak+");
    assert.equal(await c.request("Z0,100b,1"), "OK");
    if (b.software) assert.equal(b.m.mem.bytes[0x100b], 0xcc, "int3 planted");
    assert.equal(await c.request("m100b,1"), "e6", "memory reads show the guest's own byte");
    assert.equal(await c.request("c"), "T05thread:1;swbreak:;");
    assert.equal(b.m.vcpu.getRegs().rip, 0x100bn);
    assert.equal(await c.request("z0,100b,1"), "OK");
    assert.equal(b.m.mem.bytes[0x100b], 0xe6, "the byte is back");
    assert.equal(await c.request("c"), "W00");
    assert.deepEqual(b.out, [0x41, 1]);
  },
);

backendTest("gdb stub: s and vCont;s step one instruction at a time", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  assert.equal(await c.request("vCont?"), "vCont;c;C;s;S");
  assert.equal(await c.request("s"), "T05thread:1;");
  assert.equal(b.m.vcpu.getRegs().rip, 0x1002n);
  // Stepping over an out: the I/O exit goes to the VMM, the step still ends after the instruction.
  assert.equal(await c.request("vCont;s:1"), "T05thread:1;");
  assert.equal(b.m.vcpu.getRegs().rip, 0x1004n);
  assert.deepEqual(b.out, [0x41]);
  assert.equal(await c.request("S05"), "T05thread:1;", "a signal to deliver is dropped");
  assert.equal(b.m.vcpu.getRegs().rip, 0x1008n);
  assert.equal(await c.request("s100b"), "T05thread:1;", "s with an address steps from there");
  assert.equal(b.m.vcpu.getRegs().rip, 0x100dn);
  assert.equal(await c.request("vCont;c"), "W00");
});

/** A write to a watched byte in real mode: undefined if the backend reports it. */
function probeWatchpoints(kvm: Kvm): string | undefined {
  using m = machine(kvm);
  load(m.mem, CODE, ["c6 06 00 30 55", "f4"]); // mov byte [0x3000], 0x55; hlt
  realMode(m.vcpu, CODE);
  m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: DATA, kind: "write", length: 1 }] });
  const exit = m.vcpu.run({ timeoutMs: 3000 });
  return exit.reason === "debug"
    ? undefined
    : `data breakpoints are not reported (a watched write gave ${exit.reason})`;
}

featureTest("gdb stub: Z2 stops after a write to the watched byte, naming it", probeWatchpoints, async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  assert.equal(await c.request("Z2,3000,1"), "OK");
  assert.equal(await c.request("c"), "T05thread:1;watch:3000;");
  assert.equal(b.m.vcpu.getRegs().rip, 0x1008n, "after the writing instruction");
  assert.equal(await c.request("z2,3000,1"), "OK");
  assert.equal(await c.request("Z4,3000,4"), "OK");
  assert.equal(await c.request("c"), "T05thread:1;awatch:3000;", "the read of the byte");
  assert.equal(await c.request("D"), "OK");
  assert.deepEqual(await b.target.finished, { kind: "exited", code: 0 });
});

backendTest("gdb stub: Ctrl-C stops a running guest with SIGINT", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  b.m.vcpu.setRegs({ ...b.m.vcpu.getRegs(), rip: BigInt(LOOP) });
  c.send("c");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(c.packets.length, 0, "still running");
  assert.equal(b.target.state, "running");
  c.session.receive(new Uint8Array([0x03]));
  assert.equal(await c.next(), "T02thread:1;");
  assert.equal(b.m.vcpu.getRegs().rip, BigInt(LOOP));
  assert.equal(await c.request("?"), "T02thread:1;");
});

backendTest("gdb stub: two vCPUs are two threads; Hg picks one; the stop names the one that stopped", async (kvm) => {
  using b0 = bench(kvm);
  // vCPU 1 spins; vCPU 2 runs into a breakpoint.
  const second = b0.m.vm.createVcpu(1);
  realMode(second, 0x2000);
  load(b0.m.mem, 0x2000, ["90", "90", "eb fe"]);
  b0.m.vcpu.setRegs({ ...b0.m.vcpu.getRegs(), rip: BigInt(LOOP) });
  const target = new DebugTarget(b0.m.vm, [b0.m.vcpu, second], { softwareBreakpoints: b0.software, sliceMs: 10 });
  const c = new Client(target);
  try {
    assert.equal(await c.request("qfThreadInfo"), "m1,2");
    assert.equal(await c.request("T2"), "OK");
    assert.equal(await c.request("T3"), "E01");
    assert.equal(await c.request("Hg2"), "OK");
    assert.equal(le32((await c.request("g")).slice(8 * 8, 9 * 8)), 0x2000, "vCPU 2's eip");
    assert.equal(await c.request("Hg1"), "OK");
    assert.equal(le32((await c.request("g")).slice(8 * 8, 9 * 8)), LOOP, "vCPU 1's eip");
    assert.equal(await c.request("Z1,2002,1"), "OK");
    assert.equal(await c.request("vCont;c"), "T05thread:2;");
    assert.equal(await c.request("qC"), "QC2", "the stopped thread is current");
    c.session.receive(new Uint8Array([0x03])); // not running: ignored
    assert.equal(await c.request("vCont;s:2;t"), "T05thread:2;", "step vCPU 2 only: it was at its breakpoint");
    assert.equal(second.getRegs().rip, 0x2002n);
  } finally {
    target.kill();
  }
});

backendTest("gdb stub: monitor info registers, xp and info breakpoints", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  const rcmd = async (cmd: string) => hexText(await c.request(`qRcmd,${Buffer.from(cmd).toString("hex")}`));
  const regs = await rcmd("info registers");
  assert.match(regs, /rip {4}0x0000000000001000/);
  assert.match(regs, /cs {3}0x0000 base=0x0000000000000000 limit=0x0000ffff/);
  assert.match(regs, /cr0 0x00000000[0-9a-f]{8} {2}cr2/);
  assert.match(regs, /efer 0x0000000000000000/);
  assert.equal(await rcmd("xp /4xb 0x1000"), "0x0000000000001000: 0xb0 0x41 0xe6 0xe9\n");
  assert.equal(await rcmd("xp /1xh 1004"), "0x0000000000001004: 0x06fe\n");
  assert.match(await rcmd("xp /2xw 0xfffc"), /0x000000000000fffc: 0x00000000 \(no RAM\)/);
  assert.match(await rcmd("xp /9999xg 0"), /count must be/);
  await c.request("Z1,1008,1");
  assert.match(await rcmd("info breakpoints"), /DR0: hw breakpoint at 0x1008/);
  assert.match(await rcmd("frobnicate"), /unknown command: frobnicate/);
});

backendTest("gdb stub: malformed and unknown packets get E or empty replies, and the stub goes on", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  const cases: [string, string][] = [
    ["qFooBar", ""],
    ["vMustReplyEmpty", ""],
    ["!", ""],
    ["mzz,4", "E01"],
    ["m1000", "E01"],
    ["M1000,1:zz", "E01"],
    ["X1000", "E01"],
    ["gxx", "E01"],
    ["G0102", "OK"], // fewer registers than described: those given are written
    ["G0", "E01"],
    [`G${"00".repeat(4096)}`, "E01"],
    ["pffff", "E01"],
    ["p", "E01"],
    ["P0=01", "E01"],
    ["P0", "E01"],
    ["Z9,1000,1", "E01"],
    ["Z1,1000", "E01"],
    ["Z2,3000,0", "E1c"],
    ["Hx1", "E01"],
    ["Hg99", "E01"],
    ["Hgzz", "E01"],
    ["T0", "E01"],
    ["vCont", "E01"],
    ["vCont;x", "E01"],
    ["vCont;c:9", "E01"],
    ["vCont;t", "E01"],
    ["Cxyz", "E01"],
    ["qRcmd,zz", "E01"],
    ["qXfer:features:read:target.xml:zz,10", ""],
    ["qThreadExtraInfo,7", "E01"],
  ];
  for (const [request, reply] of cases) assert.equal(await c.request(request), reply, request);
  // An int3 needs RAM at the address; a debug register does not.
  assert.equal(await c.request("Z0,20000000,1"), b.software ? "E0e" : "OK");
  assert.equal(await c.request("z0,20000000,1"), "OK");
  // Five hardware slots do not exist: the fifth is refused.
  for (const a of ["1000", "1002", "1004", "1008"]) assert.equal(await c.request(`Z1,${a},1`), "OK");
  assert.equal(await c.request("Z1,100b,1"), "E1c");
  // A bad checksum is answered with "-", then the stub goes on.
  const nacks = c.nacks;
  c.session.receive(new TextEncoder().encode("$qC#00"));
  assert.equal(c.nacks, nacks + 1);
  // A packet longer than PacketSize is refused whole.
  const big = "m" + "0".repeat(0x5000);
  assert.equal(await c.request(big), "E01");
  // "-" asks for the last reply again.
  assert.equal(await c.request("qC"), "QC1");
  c.session.receive(new TextEncoder().encode("-"));
  assert.equal(await c.next(), "QC1");
  assert.equal(b.m.vcpu.getRegs().rip, BigInt(CODE), "nothing ran");
});

backendTest("gdb stub: D removes the breakpoints and lets the guest run to its end", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  assert.equal(await c.request("Z0,100b,1"), "OK");
  assert.equal(await c.request("Z1,1008,1"), "OK");
  assert.equal(await c.request("D"), "OK");
  assert.deepEqual(await b.target.finished, { kind: "exited", code: 0 });
  assert.deepEqual(b.out, [0x41, 1]);
  assert.equal(b.m.mem.bytes[0x100b], 0xe6, "no int3 left behind");
});

backendTest("gdb stub: k kills the guest without a reply", async (kvm) => {
  using b = bench(kvm);
  const c = new Client(b.target);
  c.send("k");
  assert.deepEqual(await b.target.finished, { kind: "killed" });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(c.packets, []);
  assert.equal(await c.request("c"), "X09", "a killed guest does not run again");
  assert.deepEqual(b.out, []);
});

/** A raw TCP gdb client. */
class TcpClient {
  readonly socket: Socket;
  readonly #reader = new PacketReader(1 << 20);
  readonly packets: string[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (d: Uint8Array) => {
      for (const e of this.#reader.feed(d)) if (e.kind === "packet") this.packets.push(e.payload);
    });
    socket.on("close", () => this.closed = true);
  }

  static open(port: number): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(new TcpClient(s)));
      s.once("error", reject);
    });
  }

  async next(ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.packets.length === 0) {
      if (this.closed) throw new Error("connection closed");
      if (Date.now() > deadline) throw new Error(`no reply within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.packets.shift()!;
  }

  async request(payload: string): Promise<string> {
    this.socket.write(encodePacket(payload));
    return await this.next();
  }

  async waitClosed(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }
}

backendTest("gdb stub over TCP: one client at a time, Ctrl-C, disconnect leaves the guest stopped", async (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, PROGRAM);
  realMode(m.vcpu, LOOP);
  const server = await serveGdb(m.vm, [m.vcpu], { port: 0, sliceMs: 10 });
  try {
    assert.equal(server.hostname, "127.0.0.1");
    const a = await TcpClient.open(server.port);
    assert.equal(await a.request("?"), "T05thread:1;");
    const second = await TcpClient.open(server.port);
    assert.ok(await second.waitClosed(), "a second client is turned away");
    // Garbage and a runaway packet (its checksum happens to be right: 100000 * 0x78 = 0 mod 256) get E01;
    // a bad checksum gets "-"; the session goes on.
    a.socket.write(new TextEncoder().encode("junk$" + "x".repeat(100_000) + "#00"));
    assert.equal(await a.next(), "E01");
    a.socket.write(new TextEncoder().encode("$qC#00"));
    assert.equal(await a.request("QStartNoAckMode"), "OK");
    a.socket.write(encodePacket("c"));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.state, "running");
    a.socket.write(new Uint8Array([0x03]));
    assert.equal(await a.next(), "T02thread:1;");
    a.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.state, "stopped", "a client that goes away leaves a stopped guest stopped");
    const b = await TcpClient.open(server.port);
    assert.equal(await b.request("?"), "T02thread:1;");
    b.socket.write(encodePacket("k"));
    assert.deepEqual(await server.done, { reason: "killed" });
    assert.ok(await b.waitClosed(), "the server lets the client go once the guest is killed");
  } finally {
    await server.close();
  }
});

backendTest("gdb stub over TCP: without wait the guest runs at once; attaching stops it", async (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, PROGRAM);
  realMode(m.vcpu, LOOP);
  const server = await serveGdb(m.vm, [m.vcpu], { port: 0, wait: false, sliceMs: 10 });
  try {
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.state, "running");
    const a = await TcpClient.open(server.port);
    assert.match(await a.request("?"), /^T02thread:1;$/);
    assert.equal(server.state, "stopped");
  } finally {
    await server.close();
  }
  assert.deepEqual(await server.done, { reason: "closed" });
}, { unsanitized: RUN_LOOP });

backendTest(
  "gdb stub over TCP: the VMM's exit() ends a running guest with W, and a stopped one at once",
  async (kvm) => {
    using m = machine(kvm);
    load(m.mem, CODE, PROGRAM);
    realMode(m.vcpu, LOOP);
    const running = await serveGdb(m.vm, [m.vcpu], { port: 0, sliceMs: 10 });
    const a = await TcpClient.open(running.port);
    assert.match(await a.request("?"), /^T05thread:1;$/);
    a.socket.write(encodePacket("c"));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(running.state, "running");
    await running.exit(0x7c);
    assert.equal(await a.next(), "W7c", "gdb is told the guest exited, with the VMM's code");
    assert.deepEqual(await running.done, { reason: "exited", code: 0x7c });
    assert.ok(await a.waitClosed(), "the client is disconnected");

    const stopped = await serveGdb(m.vm, [m.vcpu], { port: 0 });
    assert.equal(stopped.state, "stopped");
    await stopped.exit(3);
    assert.equal(stopped.state, "exited");
    assert.deepEqual(await stopped.done, { reason: "exited", code: 3 });
  },
  { unsanitized: RUN_LOOP },
);
