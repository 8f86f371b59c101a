/**
 * Guests of our own on the platform module, on both backends: flat binaries
 * in real and long mode (UART, CMOS memory size, fw_cfg, the ACPI tables,
 * isa-debug-exit, ACPI S5), a multiboot ELF kernel (command line, module,
 * memory map), the three ways a PC resets (triple fault, i8042, 0xcf9),
 * the zero page a bzImage gets, and the `kvmkit` command end to end.
 *
 * The guests are tests/guests/vmm_*.asm, assembled (nasm; the multiboot one
 * linked with ld) into the .bin/.elf files beside them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { backendTest, test } from "../_support/harness.ts";
import { Machine, type MachineOptions } from "../../vmm/machine.ts";
import { readBootParams } from "../../vmm/loaders/mod.ts";
import type { Kvm } from "../../mod.ts";
import { bootSectorArgs } from "./_vmm.ts";

const guest = (name: string) => ({
  name,
  data: new Uint8Array(readFileSync(new URL(`../guests/${name}`, import.meta.url))),
});

async function boot(kvm: Kvm, options: Omit<MachineOptions, "kvm">) {
  let text = "";
  using m = Machine.create({ ...options, kvm, output: (b) => (text += new TextDecoder().decode(b)) });
  const result = await m.run({ timeoutMs: 60_000 });
  return { result, text };
}

backendTest("vmm flat real mode: COM1, CMOS memory size, isa-debug-exit", async (kvm) => {
  const { result, text } = await boot(kvm, {
    memory: 32 * 2 ** 20,
    flat: { file: guest("vmm_flat_real.bin"), mode: "real", at: 0x7c00 },
    debugExit: 0xf4,
  });
  assert.equal(text, "real mode: RAM MiB 0x0020\n");
  assert.equal(result.reason, "debug-exit");
  assert.equal(result.exitCode, (2 << 1) | 1);
});

backendTest("vmm flat long mode: fw_cfg, the RSDP and XSDT, ACPI S5 power-off", async (kvm) => {
  const { result, text } = await boot(kvm, {
    cpus: 1,
    memory: 64 * 2 ** 20,
    flat: { file: guest("vmm_flat_long.bin"), mode: "long", at: 0x100000 },
  });
  assert.equal(text, "long mode: fw_cfg QEMU cpus 1\nRSDP KVMKIT XSDT[0] FACP\n");
  assert.deepEqual([result.reason, result.exitCode, result.detail], ["poweroff", 0, "ACPI S5"]);
});

backendTest("vmm multiboot ELF: magic, command line, module, memory map", async (kvm) => {
  const { result, text } = await boot(kvm, {
    memory: 64 * 2 ** 20,
    kernel: guest("vmm_multiboot.elf"),
    initrds: [{ name: "mod0 arg", data: new TextEncoder().encode("module text\n") }],
    cmdline: "one two",
    debugExit: 0xf4,
  });
  assert.equal(
    text,
    "cmdline: vmm_multiboot.elf one two\nmods: 00000001\nmod0 arg:module text\n" +
      // 0x9fc00 below the EBDA plus 63 MiB above 1 MiB; mem_upper is 63 MiB in KiB.
      "usable RAM: 03F9FC00 mem_upper KiB: 0000FC00\n",
  );
  assert.equal(result.exitCode, (0x21 << 1) | 1);
});

backendTest(
  "vmm SMP: 2 vCPUs in Workers, the AP started by INIT/SIPI through the in-kernel local APIC",
  async (kvm) => {
    const { result, text } = await boot(kvm, {
      cpus: 2,
      memory: 16 * 2 ** 20,
      flat: { file: guest("vmm_smp.bin"), mode: "protected", at: 0x10000 },
      debugExit: 0xf4,
    });
    assert.equal(text, "AP up\n");
    assert.equal(result.exitCode, (0x11 << 1) | 1, result.detail);
  },
);

backendTest(
  "vmm console input: bytes typed into COM1 raise IRQ 4 through the PIC and wake the guest, 1 and 2 vCPUs",
  async (kvm) => {
    for (const cpus of [1, 2]) {
      let text = "";
      using m = Machine.create({
        kvm,
        cpus,
        memory: 16 * 2 ** 20,
        flat: { file: guest("vmm_echo.bin"), mode: "real", at: 0x7c00 },
        debugExit: 0xf4,
        output: (b) => {
          text += new TextDecoder().decode(b);
          // Typed only once the guest sleeps in HLT waiting for it.
          if (text === ">") setTimeout(() => m.input(new TextEncoder().encode("kvm kit\n")), 50);
        },
      });
      const result = await m.run({ timeoutMs: 30_000 });
      assert.equal(text, ">KVM KIT\n", `${cpus} vCPUs`);
      assert.equal(result.exitCode, (8 << 1) | 1, result.detail);
    }
  },
);

backendTest("vmm resets: a triple fault, the i8042's reset line, the reset control register", async (kvm) => {
  const cases: [string, "real" | "protected", number[], string][] = [
    // ud2 with an empty IDT: #GP, #DF, shutdown (this host's kvm_pvm cannot emulate int3 here).
    ["triple fault", "protected", [0x0f, 0x0b], "triple fault on vCPU 0"],
    // mov al, 0xfe; out 0x64, al
    ["i8042", "real", [0xb0, 0xfe, 0xe6, 0x64, 0xf4], "i8042 reset"],
    // mov dx, 0xcf9; mov al, 6; out dx, al
    ["0xcf9", "real", [0xba, 0xf9, 0x0c, 0xb0, 0x06, 0xee, 0xf4], "reset register 0xcf9"],
  ];
  for (const [name, mode, code, detail] of cases) {
    const { result } = await boot(kvm, {
      memory: 16 * 2 ** 20,
      flat: { file: { name, data: new Uint8Array(code) }, mode, at: 0x10000 },
    });
    assert.deepEqual([result.reason, result.detail], ["reset", detail], name);
  }
});

test("vmm bzImage loader: the zero page (setup header, e820, command line, initrd, RSDP) and the 64-bit entry", () => {
  // A synthetic bzImage: 4 setup sectors with the header, protocol 2.15, 64-bit entry, then a 4 KiB "kernel".
  const file = new Uint8Array(5 * 512 + 4096);
  const v = new DataView(file.buffer);
  file[0x1f1] = 4;
  file[0x201] = 0x6a; // header length: up to 0x26c
  file.set([0x48, 0x64, 0x72, 0x53], 0x202); // "HdrS"
  v.setUint16(0x206, 0x20f, true);
  file[0x211] = 0x01; // LOADED_HIGH
  v.setUint32(0x22c, 0x37ffffff, true); // initrd_addr_max
  v.setUint16(0x236, 0x01, true); // XLF_KERNEL_64
  v.setUint32(0x238, 2047, true); // cmdline_size
  v.setBigUint64(0x258, 0x1000000n, true); // pref_address
  v.setUint32(0x260, 0x100000, true); // init_size
  using m = Machine.create({
    backend: "emu",
    memory: 64 * 2 ** 20,
    kernel: { name: "synthetic", data: file },
    initrds: [{ name: "i", data: new Uint8Array(10000).fill(7) }],
    cmdline: "console=ttyS0 quiet",
  });
  const bp = readBootParams(m.ram);
  assert.equal(bp.typeOfLoader, 0xff);
  assert.equal(new TextDecoder().decode(m.ram.slice(bp.cmdLinePtr, 19)), "console=ttyS0 quiet");
  assert.equal(m.ram.slice(bp.cmdLinePtr + 19, 1)[0], 0);
  assert.equal(bp.ramdiskSize, 10000);
  assert.equal(bp.ramdiskImage % 4096, 0);
  assert.ok(bp.ramdiskImage + 10000 <= 64 * 2 ** 20 && bp.ramdiskImage >= 0x1100000, "high, above the kernel");
  assert.equal(bp.acpiRsdpAddr, m.acpi.rsdp);
  assert.deepEqual(bp.e820, [
    { addr: 0, size: 0x9fc00, type: 1 },
    { addr: 0x9fc00, size: 0x400, type: 2 },
    { addr: 0xe0000, size: 0x20000, type: 2 },
    { addr: 0x100000, size: 63 * 2 ** 20, type: 1 },
  ]);
  const regs = m.vcpus[0].getRegs(), sregs = m.vcpus[0].getSregs();
  assert.equal(regs.rip, 0x100200n, "startup_64");
  assert.equal(regs.rsi, 0x7000n, "rsi: boot_params");
  assert.deepEqual([sregs.cs.selector, sregs.cs.l, sregs.ds.selector], [0x10, 1, 0x18]);
  assert.equal(sregs.efer & 0x500n, 0x500n, "long mode active");
  assert.throws(
    () => Machine.create({ backend: "emu", memory: 16 * 2 ** 20, kernel: { name: "synthetic", data: file } }),
    /needs 17 MiB of RAM/,
  );
  const old = file.slice();
  new DataView(old.buffer).setUint16(0x206, 0x209, true);
  assert.throws(() => Machine.create({ backend: "emu", kernel: { name: "old", data: old } }), /protocol 2.9; .* 2.10/);
  assert.throws(
    () => Machine.create({ backend: "emu", kernel: { name: "junk", data: new Uint8Array(4096) } }),
    /--flat/,
  );
});

declare const Bun: unknown;

test("vmm kvmkit command: console output, exit status, status line; bad flags and files exit 2", () => {
  const cli = new URL("../../vmm/cli.ts", import.meta.url).pathname;
  const runtime = typeof Bun !== "undefined"
    ? [process.execPath, cli]
    : [process.execPath, "run", "--allow-ffi", "--allow-read", "--allow-env", cli];
  const run = (...args: string[]) =>
    spawnSync(runtime[0], [...runtime.slice(1), ...args], { encoding: "utf8", input: "", timeout: 60_000 });
  const flat = new URL("../guests/vmm_flat_real.bin", import.meta.url).pathname;
  const r = run("run", "--backend", "emu", "--mem", "48M", ...bootSectorArgs("vmm_flat_real.bin"));
  assert.equal(r.stdout, "real mode: RAM MiB 0x0030\n");
  assert.equal(r.status, (3 << 1) | 1);
  assert.match(r.stderr, /^kvmkit: debug-exit \(isa-debug-exit 7\) after [\d.]+ s; backend emu, 1 vCPU, \d+ exits/m);
  // A pipe on stdin is typed into COM1 as is.
  const echo = [...runtime.slice(1), "run", "--backend", "emu", ...bootSectorArgs("vmm_echo.bin")];
  const piped = spawnSync(runtime[0], echo, { encoding: "utf8", input: "abc\n", timeout: 60_000 });
  assert.equal(piped.stdout, ">ABC\n");
  assert.equal(piped.status, (4 << 1) | 1);
  const bad = run("run", "--kernel", "/nonexistent/bzImage");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--kernel \/nonexistent\/bzImage: cannot read it \(no such file\)/);
  const flag = run("run", "--kernel", flat, "--cpus", "many");
  assert.equal(flag.status, 2);
  assert.match(flag.stderr, /--cpus: "many" is not an integer/);
  const format = run("run", "--backend", "emu", "--kernel", flat);
  assert.equal(format.status, 1);
  assert.match(format.stderr, /not a bzImage, multiboot or PVH kernel/);
});
