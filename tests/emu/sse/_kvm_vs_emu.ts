/**
 * The registration of the SSE and x87 differential tests (tests/emu/sse/diff_test.ts, tests/emu/x87/diff_test.ts),
 * which need both backends. Apart from _diff.ts so that the tools that run those harnesses do not load the test
 * runner.
 *
 * @module
 */
import { Kvm } from "../../../mod.ts";
import { backendVendor } from "../../../diff/vendor.ts";
import { backendUnavailable, skip, test } from "../../_support/harness.ts";

/**
 * Registers a differential test that needs both backends (skipped, saying why, where one is missing): `body`
 * gets the kvm backend and the emulator presenting the host's vendor (DPPS/DPPD and the x87 pointers follow it).
 */
export function differentialTest(
  name: string,
  body: (kvm: Kvm, emu: Kvm, vendor: "intel" | "amd" | undefined) => void,
): void {
  const why = backendUnavailable("kvm") ?? backendUnavailable("emu");
  if (why !== undefined) return skip(name, why);
  test(name, () => {
    using kvm = Kvm.open({ backend: "kvm" });
    const vendor = backendVendor(kvm);
    using emu = Kvm.open({ backend: "emu", vendor });
    body(kvm, emu, vendor);
  });
}
