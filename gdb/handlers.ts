/**
 * The command handlers: one function per request, found by
 * {@linkcode dispatch} in {@linkcode HANDLERS} by the packet's name (the
 * letter, or for `q`/`Q`/`v` packets the word). A handler returns the reply
 * payload, or `undefined` when the reply comes later (a resume's stop reply)
 * or never (`k`). An unknown packet gets the empty reply; a malformed one an
 * `E` error; a handler that throws (a backend refusing) an `E` error too.
 *
 * @module
 */
import type { Vcpu } from "../mod.ts";
import type { ZType } from "./breakpoints.ts";
import { monitor } from "./monitor.ts";
import { binaryToBytes, fromHex, PACKET_SIZE, parseHexNumber, textToHex, toHex } from "./packet.ts";
import { type Arch, archOf, RegisterFile, registersOf, targetXml } from "./registers.ts";
import type { DebugTarget, ResumeAction, StopEvent } from "./target.ts";

/** What handlers see of the session. */
export interface SessionContext {
  readonly target: DebugTarget;
  /** The register view, fixed when gdb reads the target description. */
  arch: Arch;
  /** Hg: the thread for registers and memory; Hc: for `c`/`s` (0 = any, -1 = all). 1-based. */
  gThread: number;
  cThread: number;
  /** Set by QStartNoAckMode, after its OK is sent. */
  noAckRequested: boolean;
  /** Features gdb announced in qSupported (e.g. swbreak, hwbreak). */
  readonly gdbFeatures: Set<string>;
  /** How Z0 is implemented here, for `monitor info breakpoints`. */
  readonly breakpointNote: string;
  /** Starts the guest; the stop reply is sent when it stops. */
  resume(actions: readonly ResumeAction[]): void;
  detach(): void;
  kill(): void;
}

/** A request handler: the packet after its name; returns the reply, or undefined for none now. */
export type Handler = (ctx: SessionContext, args: string) => string | undefined;

/** Error replies. */
const E_INVALID = "E01"; // malformed request
const E_FAULT = "E0e"; // EFAULT: memory not reachable
const E_NOSPC = "E1c"; // ENOSPC: no debug register free
const OK = "OK";

/** The largest memory transfer per packet: two hex digits per byte must fit PACKET_SIZE. */
const MAX_MEMORY = (PACKET_SIZE - 16) / 2;

function vcpuOf(ctx: SessionContext, thread: number): Vcpu {
  return ctx.target.vcpus[thread > 0 && thread <= ctx.target.vcpus.length ? thread - 1 : 0];
}

/** A thread id: -1 (all), 0 (any) or a 1-based vCPU; undefined if malformed or no such thread. */
function parseThread(ctx: SessionContext, s: string): number | undefined {
  if (s === "-1") return -1;
  const n = parseHexNumber(s);
  if (n === undefined) return undefined;
  if (n === 0n) return 0;
  return n <= BigInt(ctx.target.vcpus.length) ? Number(n) : undefined;
}

/** `addr,length` as the protocol writes it; undefined if malformed. */
function parseRange(s: string): { addr: bigint; len: number } | undefined {
  const m = /^([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(s);
  if (!m) return undefined;
  const addr = parseHexNumber(m[1]);
  const len = parseHexNumber(m[2]);
  if (addr === undefined || len === undefined) return undefined;
  return { addr, len: len > 0x7fffffffn ? 0x7fffffff : Number(len) };
}

/** The stop reply for `e`: T with the thread and why, W for an exit, X for a kill. */
export function stopReply(ctx: SessionContext, e: StopEvent): string {
  if (e.kind === "exited") return `W${hex2(e.code & 0xff)}`;
  if (e.kind === "killed") return "X09";
  let reply = `T${hex2(e.signal)}thread:${e.thread.toString(16)};`;
  const d = e.debug;
  if (d?.kind === "swbreak" && ctx.gdbFeatures.has("swbreak")) reply += "swbreak:;";
  if (d?.kind === "hwbreak" && ctx.gdbFeatures.has("hwbreak")) reply += "hwbreak:;";
  if (d && (d.kind === "watch" || d.kind === "rwatch" || d.kind === "awatch")) {
    reply += `${d.kind}:${d.addr.toString(16)};`;
  }
  return reply;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** Sets the pc of `thread` (c/s with an address). */
function setPc(ctx: SessionContext, thread: number, addr: string): boolean {
  if (addr === "") return true;
  const pc = parseHexNumber(addr);
  if (pc === undefined) return false;
  const vcpu = vcpuOf(ctx, thread);
  vcpu.setRegs({ ...vcpu.getRegs(), rip: pc });
  return true;
}

/** The thread `c`/`s` act on: Hc's, else Hg's. */
function resumeThread(ctx: SessionContext): number {
  return ctx.cThread > 0 ? ctx.cThread : ctx.gThread > 0 ? ctx.gThread : 1;
}

function continueAll(ctx: SessionContext, addr: string): string | undefined {
  if (!setPc(ctx, resumeThread(ctx), addr)) return E_INVALID;
  ctx.resume(ctx.target.vcpus.map(() => "c"));
  return undefined;
}

function stepOne(ctx: SessionContext, addr: string): string | undefined {
  const thread = resumeThread(ctx);
  if (!setPc(ctx, thread, addr)) return E_INVALID;
  ctx.resume(ctx.target.vcpus.map((_, i) => i + 1 === thread ? "s" : undefined));
  return undefined;
}

/** `C sig[;addr]` / `S sig[;addr]`: the signal is dropped (a machine has no signals to deliver). */
function withSignal(args: string): string | undefined {
  const m = /^[0-9a-fA-F]{1,2}(?:;([0-9a-fA-F]+))?$/.exec(args);
  return m ? m[1] ?? "" : undefined;
}

function vCont(ctx: SessionContext, args: string): string | undefined {
  const actions: ResumeAction[] = ctx.target.vcpus.map(() => undefined);
  const decided = ctx.target.vcpus.map(() => false);
  if (!args.startsWith(";")) return E_INVALID;
  for (const part of args.slice(1).split(";")) {
    const m = /^([cCsSt])([0-9a-fA-F]{2})?(?::(-1|[0-9a-fA-F]+))?$/.exec(part);
    if (!m) return E_INVALID;
    const kind = m[1].toLowerCase();
    if ((kind === "c" || kind === "s") && (m[1] === "C" || m[1] === "S") !== (m[2] !== undefined)) return E_INVALID;
    const thread = m[3] === undefined ? -1 : parseThread(ctx, m[3]);
    if (thread === undefined) return E_INVALID;
    const action: ResumeAction = kind === "c" ? "c" : kind === "s" ? "s" : undefined;
    // The leftmost action that names a thread applies to it.
    for (let i = 0; i < actions.length; i++) {
      if (decided[i] || (thread > 0 && thread !== i + 1)) continue;
      actions[i] = action;
      decided[i] = true;
    }
  }
  if (actions.every((a) => a === undefined)) return E_INVALID;
  ctx.resume(actions);
  return undefined;
}

function readRegisters(ctx: SessionContext): string {
  const file = new RegisterFile(vcpuOf(ctx, ctx.gThread));
  return registersOf(ctx.arch).map((r) => toHex(r.read(file))).join("");
}

function writeRegisters(ctx: SessionContext, args: string): string {
  const bytes = fromHex(args);
  const regs = registersOf(ctx.arch);
  const total = regs.reduce((n, r) => n + r.bits / 8, 0);
  // gdb may send fewer registers than the description has (those it knows); never more.
  if (!bytes || bytes.length > total) return E_INVALID;
  const file = new RegisterFile(vcpuOf(ctx, ctx.gThread));
  let at = 0;
  for (const r of regs) {
    const n = r.bits / 8;
    if (at + n > bytes.length) break;
    r.write(file, bytes.subarray(at, at + n));
    at += n;
  }
  file.flush();
  return OK;
}

function readRegister(ctx: SessionContext, args: string): string {
  const n = parseHexNumber(args);
  const regs = registersOf(ctx.arch);
  if (n === undefined || n >= BigInt(regs.length)) return E_INVALID;
  return toHex(regs[Number(n)].read(new RegisterFile(vcpuOf(ctx, ctx.gThread))));
}

function writeRegister(ctx: SessionContext, args: string): string {
  const m = /^([0-9a-fA-F]+)=([0-9a-fA-F]*)$/.exec(args);
  if (!m) return E_INVALID;
  const n = parseHexNumber(m[1]);
  const regs = registersOf(ctx.arch);
  const value = fromHex(m[2]);
  if (n === undefined || n >= BigInt(regs.length) || !value) return E_INVALID;
  const reg = regs[Number(n)];
  if (value.length !== reg.bits / 8) return E_INVALID;
  const file = new RegisterFile(vcpuOf(ctx, ctx.gThread));
  reg.write(file, value);
  file.flush();
  return OK;
}

function readMemory(ctx: SessionContext, args: string): string {
  const r = parseRange(args);
  if (!r) return E_INVALID;
  const len = Math.min(r.len, MAX_MEMORY); // a shorter reply is allowed: gdb asks again for the rest
  if (len === 0) return "";
  const bytes = ctx.target.memory.readVirtual(vcpuOf(ctx, ctx.gThread), r.addr, len);
  if (bytes.length === 0) return E_FAULT;
  return toHex(ctx.target.breakpoints.mask(r.addr, bytes));
}

function writeMemory(ctx: SessionContext, addrLen: string, data: Uint8Array | undefined): string {
  const r = parseRange(addrLen);
  if (!r || !data || data.length !== r.len) return E_INVALID;
  if (data.length === 0) return OK;
  return ctx.target.memory.writeVirtual(vcpuOf(ctx, ctx.gThread), r.addr, data) ? OK : E_FAULT;
}

function breakpoint(ctx: SessionContext, args: string, insert: boolean): string {
  const m = /^([0-4]),([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})(?:;.*)?$/.exec(args);
  if (!m) return E_INVALID;
  const type = Number(m[1]) as ZType;
  const addr = BigInt(`0x${m[2]}`);
  const kind = parseInt(m[3], 16);
  if (!insert) {
    ctx.target.breakpoints.remove(type, addr, kind);
    return OK;
  }
  ctx.target.breakpoints.long = ctx.arch === "x86-64";
  const error = ctx.target.breakpoints.insert(type, addr, kind, vcpuOf(ctx, ctx.gThread));
  return error === undefined ? OK : type === 0 ? E_FAULT : E_NOSPC;
}

function qXfer(ctx: SessionContext, args: string): string {
  const m = /^:features:read:([^:]+):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(args);
  if (!m) return "";
  if (m[1] !== "target.xml") return "E00";
  const offset = parseHexNumber(m[2]);
  const length = parseHexNumber(m[3]);
  if (offset === undefined || length === undefined) return E_INVALID;
  const xml = targetXml(ctx.arch);
  if (offset >= BigInt(xml.length)) return "l";
  const chunk = xml.substr(Number(offset), Math.min(Number(length), PACKET_SIZE - 16));
  return (Number(offset) + chunk.length >= xml.length ? "l" : "m") + chunk;
}

function qSupported(ctx: SessionContext, args: string): string {
  for (const f of args.replace(/^:/, "").split(";")) if (f.endsWith("+")) ctx.gdbFeatures.add(f.slice(0, -1));
  // Fixed for the session: the registers gdb will ask for follow the description it reads.
  ctx.arch = archOf(ctx.target.vcpus[0]);
  return [
    `PacketSize=${PACKET_SIZE.toString(16)}`,
    "qXfer:features:read+",
    "QStartNoAckMode+",
    "swbreak+",
    "hwbreak+",
    "vContSupported+",
  ].join(";");
}

function setThread(ctx: SessionContext, args: string): string {
  const op = args[0];
  const thread = parseThread(ctx, args.slice(1));
  if ((op !== "g" && op !== "c") || thread === undefined) return E_INVALID;
  if (op === "g") ctx.gThread = thread > 0 ? thread : 1;
  else ctx.cThread = thread;
  return OK;
}

function qRcmd(ctx: SessionContext, args: string): string {
  const bytes = fromHex(args.replace(/^,/, ""));
  if (!bytes) return E_INVALID;
  const text = monitor(ctx.target, vcpuOf(ctx, ctx.gThread), new TextDecoder().decode(bytes), ctx.breakpointNote);
  return textToHex(text);
}

/** Every request the stub answers, by name. */
export const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ["?", (ctx) => stopReply(ctx, ctx.target.lastStop)],
  ["g", (ctx, a) => a === "" ? readRegisters(ctx) : E_INVALID],
  ["G", writeRegisters],
  ["p", readRegister],
  ["P", writeRegister],
  ["m", readMemory],
  ["M", (ctx, a) => {
    const [range, data = ""] = a.split(":", 2);
    return writeMemory(ctx, range, fromHex(data));
  }],
  ["X", (ctx, a) => {
    const colon = a.indexOf(":");
    if (colon < 0) return E_INVALID;
    return writeMemory(ctx, a.slice(0, colon), binaryToBytes(a.slice(colon + 1)));
  }],
  ["Z", (ctx, a) => breakpoint(ctx, a, true)],
  ["z", (ctx, a) => breakpoint(ctx, a, false)],
  ["c", continueAll],
  ["s", stepOne],
  ["C", (ctx, a) => {
    const addr = withSignal(a);
    return addr === undefined ? E_INVALID : continueAll(ctx, addr);
  }],
  ["S", (ctx, a) => {
    const addr = withSignal(a);
    return addr === undefined ? E_INVALID : stepOne(ctx, addr);
  }],
  ["vCont?", () => "vCont;c;C;s;S"],
  ["vCont", vCont],
  ["H", setThread],
  ["T", (ctx, a) => {
    const t = parseThread(ctx, a);
    return t !== undefined && t > 0 ? OK : E_INVALID;
  }],
  ["qC", (ctx) => `QC${(ctx.gThread > 0 ? ctx.gThread : 1).toString(16)}`],
  ["qfThreadInfo", (ctx) => "m" + ctx.target.vcpus.map((_, i) => (i + 1).toString(16)).join(",")],
  ["qsThreadInfo", () => "l"],
  ["qThreadExtraInfo", (ctx, a) => {
    const t = parseThread(ctx, a.replace(/^,/, ""));
    if (t === undefined || t <= 0) return E_INVALID;
    return textToHex(`vCPU ${ctx.target.vcpus[t - 1].id}`);
  }],
  ["qAttached", () => "1"],
  ["qSupported", qSupported],
  ["qXfer", qXfer],
  ["QStartNoAckMode", (ctx) => {
    ctx.noAckRequested = true;
    return OK;
  }],
  ["qRcmd", qRcmd],
  ["qSymbol", () => OK],
  ["D", (ctx) => {
    ctx.detach();
    return OK;
  }],
  ["k", (ctx) => {
    ctx.kill();
    return undefined; // `k` has no reply
  }],
  ["vKill", (ctx) => {
    ctx.kill();
    return OK;
  }],
]);

/** The name a packet is dispatched by: `q`/`Q`/`v` + word (with vCont's `?`), else its first character. */
export function packetName(payload: string): string {
  const m = /^[qQv][A-Za-z]+\??/.exec(payload);
  return m ? m[0] : payload.slice(0, 1);
}

/** Answers one packet: the reply payload, or undefined for none now. Never throws. */
export function dispatch(ctx: SessionContext, payload: string): string | undefined {
  const name = packetName(payload);
  const handler = HANDLERS.get(name);
  if (!handler) return ""; // unknown: the empty reply says "not supported"
  try {
    return handler(ctx, payload.slice(name.length));
  } catch {
    return E_INVALID; // the backend refused (e.g. a closed vCPU): an error, never an exception on the socket
  }
}
