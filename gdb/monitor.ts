/**
 * `monitor` commands (qRcmd): what a debugger of a whole machine wants
 * beyond gdb's process view.
 *
 * - `info registers`: general registers, segments with their hidden parts,
 *   descriptor tables, control registers, EFER, APIC base, debug registers.
 * - `xp /<count><format><size> <address>`: guest-physical memory, as in
 *   QEMU's monitor (format x, d or u; size b, h, w or g).
 * - `info breakpoints`: how breakpoints are implemented here, and which are set.
 * - `help`.
 *
 * @module
 */
import type { Segment, Vcpu } from "../mod.ts";
import type { DebugTarget } from "./target.ts";

const hex = (v: bigint | number, width = 16) => `0x${BigInt(v).toString(16).padStart(width, "0")}`;

function segmentLine(name: string, s: Segment): string {
  const attrs = `type=${s.type} s=${s.s} dpl=${s.dpl} p=${s.present} db=${s.db} l=${s.l} g=${s.g}` +
    (s.unusable ? " unusable" : "");
  return `${name.padEnd(4)} ${hex(s.selector, 4)} base=${hex(s.base)} limit=${hex(s.limit, 8)} ${attrs}`;
}

/** `info registers` for one vCPU, with the system registers. */
export function infoRegisters(vcpu: Vcpu): string {
  const r = vcpu.getRegs();
  const s = vcpu.getSregs();
  const lines = [`vCPU ${vcpu.id}`];
  const gprs: [string, bigint][] = [
    ["rax", r.rax],
    ["rbx", r.rbx],
    ["rcx", r.rcx],
    ["rdx", r.rdx],
    ["rsi", r.rsi],
    ["rdi", r.rdi],
    ["rbp", r.rbp],
    ["rsp", r.rsp],
    ["r8", r.r8],
    ["r9", r.r9],
    ["r10", r.r10],
    ["r11", r.r11],
    ["r12", r.r12],
    ["r13", r.r13],
    ["r14", r.r14],
    ["r15", r.r15],
    ["rip", r.rip],
    ["rflags", r.rflags],
  ];
  for (let i = 0; i < gprs.length; i += 3) {
    lines.push(gprs.slice(i, i + 3).map(([n, v]) => `${n.padEnd(6)} ${hex(v)}`).join("  "));
  }
  for (const name of ["cs", "ss", "ds", "es", "fs", "gs", "ldt", "tr"] as const) lines.push(segmentLine(name, s[name]));
  lines.push(`gdt  base=${hex(s.gdt.base)} limit=${hex(s.gdt.limit, 4)}`);
  lines.push(`idt  base=${hex(s.idt.base)} limit=${hex(s.idt.limit, 4)}`);
  lines.push(`cr0 ${hex(s.cr0)}  cr2 ${hex(s.cr2)}  cr3 ${hex(s.cr3)}`);
  lines.push(`cr4 ${hex(s.cr4)}  cr8 ${hex(s.cr8)}  efer ${hex(s.efer)}`);
  lines.push(`apic_base ${hex(s.apicBase)}`);
  try {
    const d = vcpu.getDebugRegs();
    lines.push(`dr0-3 ${d.db.map((v) => hex(v)).join(" ")}  dr6 ${hex(d.dr6)}  dr7 ${hex(d.dr7)}`);
  } catch {
    // a backend without KVM_GET_DEBUGREGS: leave the line out
  }
  return lines.join("\n") + "\n";
}

const SIZES: Record<string, number> = { b: 1, h: 2, w: 4, g: 8 };
/** At most this many bytes per `xp`, so that the reply fits a packet. */
const XP_MAX = 1024;

/** `xp /<count><format><size> <address>` over guest-physical memory. */
export function xp(target: DebugTarget, args: string): string {
  const m = /^(?:\/(\d*)([xdu]?)([bhwg]?)\s+)?(\S+)$/.exec(args.trim());
  if (!m) return "usage: xp /<count><x|d|u><b|h|w|g> <physical address>\n";
  const count = m[1] ? Number(m[1]) : 1;
  const format = m[2] || "x";
  const size = SIZES[m[3] || "w"];
  let addr: bigint;
  try {
    addr = BigInt(m[4].startsWith("0x") || m[4].startsWith("0X") ? m[4] : `0x${m[4]}`);
  } catch {
    return `xp: ${m[4]} is not an address\n`;
  }
  if (count < 1 || count * size > XP_MAX) return `xp: count must be 1 to ${XP_MAX / size} for that size\n`;
  const bytes = target.memory.readPhysical(addr, count * size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const perLine = Math.max(1, 16 / size);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % perLine === 0) lines.push(`${hex(addr + BigInt(i * size))}:`);
    if ((i + 1) * size > bytes.length) {
      lines[lines.length - 1] += " (no RAM)";
      break;
    }
    let v = 0n;
    for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(view.getUint8(i * size + k));
    const text = format === "x"
      ? hex(v, size * 2)
      : format === "d"
      ? BigInt.asIntN(size * 8, v).toString()
      : v.toString();
    lines[lines.length - 1] += ` ${text}`;
  }
  return lines.join("\n") + "\n";
}

const HELP = [
  "info registers      registers of the current thread's vCPU, with the system registers",
  "info breakpoints    how breakpoints work on this backend, and which are set",
  "xp /NFU ADDR        guest-physical memory: N units, F format (x, d, u), U size (b, h, w, g)",
  "help                this list",
].join("\n") + "\n";

/** Runs a monitor command for `vcpu` (gdb's current thread); returns its output. */
export function monitor(target: DebugTarget, vcpu: Vcpu, command: string, breakpointNote: string): string {
  const cmd = command.trim().replace(/\s+/g, " ");
  if (cmd === "help" || cmd === "") return HELP;
  if (/^info (registers|reg|r)$/.test(cmd)) return infoRegisters(vcpu);
  if (/^info (breakpoints|break|b)$/.test(cmd)) {
    const set = target.breakpoints.describe();
    return `${breakpointNote}\n${set.length ? set.join("\n") : "no breakpoints set"}\n`;
  }
  if (cmd === "xp" || cmd.startsWith("xp ")) return xp(target, cmd.slice(2));
  return `unknown command: ${cmd}\n${HELP}`;
}
