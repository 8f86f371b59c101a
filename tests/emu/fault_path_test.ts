/**
 * What one page fault's round trip costs the emulator, counted rather than
 * timed, on the pagefault benchmark guest (bench/guests/pagefault.asm: 64
 * pages a pass, each first touch a #PF whose handler maps the page and
 * returns with IRETQ; then every page unmapped with INVLPG): the page walks
 * read the tables through the RAM slot they found before (paging.ts
 * TableSlot), the exception's frame is checked through the TLB, the IDT and
 * GDT reads of the delivery and of IRETQ go through the implicit supervisor
 * reads' own TLB (memory.ts sysRead), and a chain
 * of blocks that ends where no block starts leaves that instruction to the
 * interpreter without a second search (jit/run.ts, exec.ts). Each test also
 * checks the guest's checksum.
 *
 * Emulator only: the counts are the emulator's own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../mod.ts";
import type { GuestMemory, Vcpu, Vm } from "../../mod.ts";
import type { EmuVcpu } from "../../emu/vcpu.ts";
import { readImage } from "../../bench/guests/kvmkit_runner.ts";
import {
  checksumText,
  GUEST_RAM_SIZE,
  IMAGE_ADDR_HIGH,
  IMAGE_ADDR_LOW,
  IMAGE_SIZE,
  PARAMS_ADDR,
  PORT_DEBUG_EXIT,
  PORT_DEBUGCON,
  PORT_POST,
  workload,
} from "../../bench/guests/workloads.ts";
import { test } from "../_support/harness.ts";
import { emuCpu } from "./jit/_jit.ts";

/** Passes of the guest over its 64 pages: 64 faults each. */
const PASSES = 40;
const FAULTS = 64 * PASSES;

/** The pagefault guest of `mode` with PASSES passes in a new VM, its emulator vCPU not yet run. */
function pagefaultGuest(
  kvm: Kvm,
  mode: 32 | 64,
): { vm: Vm; vcpu: Vcpu; ram: GuestMemory; rom: GuestMemory; emu: EmuVcpu } {
  const image = readImage("pagefault", mode);
  const vm = kvm.createVm();
  const ram = vm.allocateMemory(GUEST_RAM_SIZE);
  const rom = vm.allocateMemory(IMAGE_SIZE);
  ram.bytes.set(image, IMAGE_ADDR_LOW);
  rom.bytes.set(image);
  new DataView(ram.bytes.buffer, ram.bytes.byteOffset).setUint32(PARAMS_ADDR, PASSES, true);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: ram });
  vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: IMAGE_ADDR_HIGH, memory: rom });
  const vcpu = vm.createVcpu(0);
  return { vm, vcpu, ram, rom, emu: emuCpu(vm, ram) };
}

/** Runs the guest to its end; throws unless it printed the model's checksum. */
function finish(vcpu: Vcpu, label: string): void {
  let output = "", exited = false;
  for (;;) {
    const exit = vcpu.run({ timeoutMs: 60_000 });
    if (exit.reason === "io" && exit.direction === "out") {
      if (exit.port === PORT_POST) continue;
      if (exit.port === PORT_DEBUGCON) {
        output += String.fromCharCode(exit.data[0]);
        continue;
      }
      if (exit.port === PORT_DEBUG_EXIT) {
        exited = true;
        continue;
      }
    }
    assert.ok(exit.reason === "hlt" && exited, `${label}: the guest ended with ${exit.reason}`);
    break;
  }
  assert.equal(output.trim(), checksumText(workload("pagefault").checksum(PASSES)), `${label}: checksum`);
}

for (const mode of [32, 64] as const) {
  test(`fault path (${mode}-bit): page walks find the tables' slot once, not at every entry`, () => {
    using kvm = Kvm.open({ backend: "emu" });
    const g = pagefaultGuest(kvm, mode);
    try {
      const mem = g.emu.cpu.mem, physRead32 = mem.physRead32.bind(mem);
      let reads = 0;
      mem.physRead32 = (phys: number) => {
        reads++;
        return physRead32(phys);
      };
      finish(g.vcpu, "walks");
      // Three walks a fault (the failing one, the read's, the write's), each reading 2 to 8 dwords of the tables,
      // were each a slot search; now only a walk's first entry after the slots changed is.
      assert.ok(reads < FAULTS / 8, `${reads} page-table reads through Memory.physRead32 for ${FAULTS} faults`);
    } finally {
      g.vm.close();
      g.ram.free();
      g.rom.free();
    }
  });
}

test("fault path (64-bit): the exception's frame is checked through the TLB, not by page walks", () => {
  using kvm = Kvm.open({ backend: "emu" });
  const g = pagefaultGuest(kvm, 64);
  try {
    const cpu = g.emu.cpu, translate = cpu.translate.bind(cpu);
    let writes = 0;
    cpu.translate = (lin: number, write: boolean, fetch: boolean) => {
      if (write && !cpu.mem.sys) writes++;
      return translate(lin, write, fetch);
    };
    finish(g.vcpu, "frame");
    // The guest's store after each fault translates its page once (the TLB's write entry was dropped by INVLPG);
    // the frame's two checks found the stack's page in the TLB, where they used to translate it twice more.
    assert.ok(writes < FAULTS * 1.5, `${writes} write translations for ${FAULTS} faults`);
  } finally {
    g.vm.close();
    g.ram.free();
    g.rom.free();
  }
});

test("fault path (64-bit): a chain ending where no block starts is not searched for again", () => {
  using kvm = Kvm.open({ backend: "emu" });
  const g = pagefaultGuest(kvm, 64);
  try {
    const byAddress = g.emu.cpu.blocks.byAddress, get = byAddress.get.bind(byAddress);
    let lookups = 0;
    byAddress.get = (key: number) => {
      lookups++;
      return get(key);
    };
    finish(g.vcpu, "chains");
    // Per page: the handler's MOV from CR2 and IRETQ and the unmapping's INVLPG, which the interpreter runs, and the
    // three blocks around them (touch, handler, unmap), each once; searching twice for each interpreted one made
    // it 9 or more. (With the compiler off no block is ever searched for.)
    assert.ok(lookups < FAULTS * 8, `${lookups} block lookups for ${FAULTS} faults`);
  } finally {
    g.vm.close();
    g.ram.free();
    g.rom.free();
  }
});

test("fault path (64-bit): the IDT and GDT reads of a fault's round trip go through their own TLB", () => {
  using kvm = Kvm.open({ backend: "emu" });
  const g = pagefaultGuest(kvm, 64);
  try {
    const cpu = g.emu.cpu, translate = cpu.translate.bind(cpu);
    let sys = 0;
    cpu.translate = (lin: number, write: boolean, fetch: boolean) => {
      if (cpu.mem.sys) sys++;
      return translate(lin, write, fetch);
    };
    finish(g.vcpu, "sys");
    // Each round trip reads the gate (three dwords), the handler's code descriptor, and IRETQ's code and stack
    // descriptors (two dwords each): nine translations a fault, where the first of each page now fills the entry.
    assert.ok(sys < 64, `${sys} translations of implicit supervisor reads for ${FAULTS} faults`);
  } finally {
    g.vm.close();
    g.ram.free();
    g.rom.free();
  }
});
