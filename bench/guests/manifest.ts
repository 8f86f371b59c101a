/**
 * The shape of bench/guests/manifest.json: for each workload and mode, the
 * image, its SHA-256, its dynamic instruction count as `fixed +
 * perIteration * N` (from workloads.ts), reference checksums, and how the
 * count was verified. build.ts writes it; verify.ts --record adds to
 * "verified".
 *
 * @module
 */

/** Where the manifest lives. */
export const MANIFEST_PATH: string = new URL("./manifest.json", import.meta.url).pathname;

/** One workload in one mode. */
export interface ManifestMode {
  image: string;
  sha256: string;
  /** Instructions from the reset vector to `hlt`: fixed + perIteration * N. */
  instructions: { fixed: number; perIteration: number };
  /** How the count was checked, e.g. "emu single-step, n=1, entry reset". */
  verified: string[];
}

/** One workload. */
export interface ManifestWorkload {
  name: string;
  description: string;
  source: string;
  modes: { "32": ManifestMode; "64": ManifestMode };
  /** The checksum the guest prints for some N. */
  checksums: Record<string, string>;
}

/** The whole manifest. */
export interface Manifest {
  about: string;
  counting: string;
  workloads: ManifestWorkload[];
}
