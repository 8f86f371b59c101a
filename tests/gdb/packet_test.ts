/**
 * The GDB stub's packet framing (gdb/packet.ts): checksums, escaping,
 * acknowledgements, the interrupt byte, and what malformed input becomes.
 * No VM needed.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  binaryToBytes,
  encodePacket,
  type FrameEvent,
  fromHex,
  PacketReader,
  parseHexNumber,
  toHex,
} from "../../gdb/packet.ts";
import { packetName } from "../../gdb/handlers.ts";
import { split } from "../../gdb/breakpoints.ts";
import { abridgedTag, fromLe, le, targetXml } from "../../gdb/registers.ts";
import { test } from "../_support/harness.ts";

const ascii = (s: string) => binaryToBytes(s);
const text = (b: Uint8Array) => String.fromCharCode(...b);

function feed(...chunks: string[]): FrameEvent[] {
  const r = new PacketReader(64);
  return chunks.flatMap((c) => r.feed(ascii(c)));
}

test("gdb packet: framing computes the modulo-256 checksum", () => {
  assert.equal(text(encodePacket("OK")), "$OK#9a");
  assert.equal(text(encodePacket("")), "$#00");
  assert.equal(text(encodePacket("qSupported")), "$qSupported#37");
});

test("gdb packet: $, #, } and * are escaped and the reader undoes it", () => {
  const payload = "a$b#c}d*e\x00\xff";
  const framed = encodePacket(payload);
  assert.equal(text(framed).slice(0, 16), "$a}\x04b}\x03c}]d}\x0ae\x00\xff");
  const events = new PacketReader().feed(framed);
  assert.deepEqual(events, [{ kind: "packet", payload, overflow: false }]);
});

test("gdb packet: a packet split anywhere across reads is one event", () => {
  const bytes = text(encodePacket("m1000,4"));
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(feed(bytes.slice(0, cut), bytes.slice(cut)), [
      { kind: "packet", payload: "m1000,4", overflow: false },
    ], `cut at ${cut}`);
  }
});

test("gdb packet: acks, nacks and Ctrl-C outside packets; other bytes ignored", () => {
  assert.deepEqual(feed("+x-\x03\n"), [{ kind: "ack" }, { kind: "nack" }, { kind: "interrupt" }]);
  // 0x03 inside a packet is data, not an interrupt.
  const inside = text(encodePacket("X0,1:\x03"));
  assert.deepEqual(feed(inside), [{ kind: "packet", payload: "X0,1:\x03", overflow: false }]);
});

test("gdb packet: a wrong or non-hex checksum is reported, not delivered", () => {
  assert.deepEqual(feed("$OK#00"), [{ kind: "bad-checksum" }]);
  assert.deepEqual(feed("$OK#zz"), [{ kind: "bad-checksum" }]);
  assert.deepEqual(feed("$OK#9A"), [{ kind: "packet", payload: "OK", overflow: false }], "upper-case hex is fine");
});

test("gdb packet: a $ inside a packet starts over; an oversized packet is flagged, not stored", () => {
  assert.deepEqual(feed("$garbage$OK#9a"), [{ kind: "packet", payload: "OK", overflow: false }]);
  const big = "A".repeat(200);
  let sum = 0;
  for (const c of big) sum = (sum + c.charCodeAt(0)) & 0xff;
  const events = feed(`$${big}#${sum.toString(16).padStart(2, "0")}`);
  assert.deepEqual(events, [{ kind: "packet", payload: "", overflow: true }]);
  // The reader is fine afterwards.
  assert.deepEqual(feed("$OK#9a"), [{ kind: "packet", payload: "OK", overflow: false }]);
});

test("gdb packet: hex helpers refuse malformed input", () => {
  assert.deepEqual(fromHex("0aff"), new Uint8Array([0x0a, 0xff]));
  assert.equal(fromHex("abc"), undefined);
  assert.equal(fromHex("zz"), undefined);
  assert.equal(toHex(new Uint8Array([1, 0xab])), "01ab");
  assert.equal(parseHexNumber("ffffffffffffffff"), 0xffffffffffffffffn);
  assert.equal(parseHexNumber("1ffffffffffffffff"), undefined, "more than 64 bits");
  assert.equal(parseHexNumber(""), undefined);
  assert.equal(parseHexNumber("-1"), undefined);
});

test("gdb packet: requests are dispatched by letter, or by word for q/Q/v", () => {
  assert.equal(packetName("m1000,4"), "m");
  assert.equal(packetName("qSupported:multiprocess+"), "qSupported");
  assert.equal(packetName("qXfer:features:read:target.xml:0,fff"), "qXfer");
  assert.equal(packetName("vCont?"), "vCont?");
  assert.equal(packetName("vCont;c"), "vCont");
  assert.equal(packetName("QStartNoAckMode"), "QStartNoAckMode");
  assert.equal(packetName("?"), "?");
  assert.equal(packetName(""), "");
});

test("gdb registers: little-endian values, tag words, and the target descriptions", () => {
  assert.deepEqual(le(0x1122334455n, 8), new Uint8Array([0x55, 0x44, 0x33, 0x22, 0x11, 0, 0, 0]));
  assert.equal(fromLe(new Uint8Array([0x55, 0x44, 0x33])), 0x334455n);
  assert.equal(le(-1n, 4).every((b) => b === 0xff), true);
  assert.equal(abridgedTag(0xffff), 0, "all empty");
  assert.equal(abridgedTag(0x3ffc), 0x81, "physical 0 and 7 in use");
  const x64 = targetXml("x86-64");
  assert.match(x64, /<architecture>i386:x86-64<\/architecture>/);
  for (
    const name of ["rax", "r15", "rip", "eflags", "gs", "st7", "fop", "xmm15", "mxcsr", "fs_base", "gs_base", "cr3"]
  ) {
    assert.match(x64, new RegExp(`<reg name="${name}" `), name);
  }
  assert.doesNotMatch(x64, /orig_rax/);
  assert.match(x64, /<reg name="rip" bitsize="64" type="code_ptr" regnum="16"\/>/);
  assert.match(x64, /<reg name="xmm0" bitsize="128" type="vec128" regnum="40"\/>/);
  const i386 = targetXml("i386");
  assert.match(i386, /<architecture>i386<\/architecture>/);
  assert.match(i386, /<reg name="eip" bitsize="32" type="code_ptr" regnum="8"\/>/);
  assert.doesNotMatch(i386, /xmm8|rax|fs_base/, "no segments feature: gdb 13 aborts on it in the i386 view");
});

test("gdb watchpoints: a range becomes aligned pieces of 1, 2, 4 or 8 bytes", () => {
  assert.deepEqual(split(0x1000n, 4, 8), [[0x1000n, 4]]);
  assert.deepEqual(split(0x1001n, 4, 8), [[0x1001n, 1], [0x1002n, 2], [0x1004n, 1]]);
  assert.deepEqual(split(0x1000n, 16, 8), [[0x1000n, 8], [0x1008n, 8]]);
  assert.deepEqual(split(0x1000n, 8, 4), [[0x1000n, 4], [0x1004n, 4]]);
});
