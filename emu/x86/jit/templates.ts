/**
 * Templates: the common integer instructions written out as JavaScript with
 * their registers, immediates and flags kind as constants.
 *
 * @module
 */
import type { Insn } from "../insn.ts";
import type { Site } from "./codegen.ts";

/** A template's code, and whether it may queue an exit or write memory (the block then checks). */
export interface Template {
  readonly code: string;
  readonly mayExit: boolean;
}

/** The template of `d`, or undefined when it is called through its semantic function. */
export function template(_d: Insn, _site: Site): Template | undefined {
  return undefined;
}
