// The hello guest (examples/hello.bin: real mode, writes a greeting to COM1 and
// halts) on kvmkit's emulator, in the page. Plain JavaScript, so that the
// browser runs it as it is.
import { Kvm } from "kvmkit";

const LOAD_ADDR = 0x1000;
const SERIAL_PORT = 0x3f8;

/** Runs the guest and returns what it wrote to the serial port. */
function runGuest(code) {
  const kvm = Kvm.open(); // "auto": a browser has no FFI, so the emulator
  document.getElementById("backend").textContent = `${kvm.backend} (${kvm.fallbackReason})`;
  const vm = kvm.createVm();
  const memory = vm.allocateMemory(0x10000);
  try {
    memory.bytes.set(code, LOAD_ADDR);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
    const vcpu = vm.createVcpu(0);
    const sregs = vcpu.getSregs();
    sregs.cs.selector = LOAD_ADDR >> 4;
    sregs.cs.base = BigInt(LOAD_ADDR);
    vcpu.setSregs(sregs);
    vcpu.setRegs({ ...vcpu.getRegs(), rip: 0n, rflags: 2n });
    const written = [];
    for (let n = 0; n < 10_000; n++) {
      const exit = vcpu.run();
      if (exit.reason === "hlt") return new TextDecoder().decode(new Uint8Array(written));
      if (exit.reason !== "io" || exit.port !== SERIAL_PORT) throw new Error(`unexpected exit: ${exit.reason}`);
      written.push(...exit.data);
    }
    throw new Error("the guest did not halt");
  } finally {
    vm.close();
    memory.free();
    kvm.close();
  }
}

const serial = document.getElementById("serial");
try {
  const response = await fetch(new URL("../hello.bin", import.meta.url));
  serial.textContent = runGuest(new Uint8Array(await response.arrayBuffer()));
  serial.dataset.status = "halted";
} catch (e) {
  serial.textContent = `error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
  serial.dataset.status = "error";
}
