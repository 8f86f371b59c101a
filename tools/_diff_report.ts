/**
 * What the at-scale differential tools (sse_diff.ts, x87_diff.ts) share:
 * reporting a program that did not run to its end on one side or both.
 *
 * @module
 */

/**
 * Called when the run of a program of `n` cases starting at case `at` ended
 * early on the kvm backend or the emulator (its result is then a string, the
 * reason). Both sides failing alike is agreement: returns 0. Otherwise prints
 * both outcomes and returns `n`, every case of the program counting as a
 * disagreement.
 */
export function failedRunDisagreements(at: number, n: number, kvm: unknown, emu: unknown): number {
  if (String(kvm) === String(emu)) return 0;
  const outcome = (r: unknown) => typeof r === "string" ? r : "ok";
  console.log(`program at case ${at}: kvm ${outcome(kvm)}, emu ${outcome(emu)}`);
  return n;
}
