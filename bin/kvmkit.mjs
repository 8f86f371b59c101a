#!/usr/bin/env node
// The npm package's `kvmkit` command (`npx kvmkit run ...`, `bunx kvmkit run ...`): runs the compiled vmm/cli.ts.
// Its main is called here, not through the module's `import.meta.main` check, which Node 20 does not have.
import process from "node:process";
import { main } from "../dist/vmm/cli.js";

process.exitCode = await main(process.argv.slice(2));
