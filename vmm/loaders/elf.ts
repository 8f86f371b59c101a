/**
 * Just enough ELF for loaders: the header, program headers (ELF32 and
 * ELF64, little endian) and the notes in PT_NOTE segments.
 *
 * @module
 */
import { BootError } from "./types.ts";

/** A program header. */
export interface ProgramHeader {
  type: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

/** An ELF note. */
export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
}

/** A parsed ELF file. */
export interface Elf {
  bits: 32 | 64;
  entry: number;
  segments: ProgramHeader[];
}

export const PT_LOAD = 1, PT_NOTE = 4;

/** True when `file` starts with the ELF magic. */
export function isElf(file: Uint8Array): boolean {
  return file.length >= 52 && file[0] === 0x7f && file[1] === 0x45 && file[2] === 0x4c && file[3] === 0x46;
}

function num(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BootError(`ELF: ${what} 0x${v.toString(16)} is too large`);
  return Number(v);
}

/** Parses the header and program headers. Throws BootError saying what is wrong. */
export function parseElf(file: Uint8Array, name: string): Elf {
  if (!isElf(file)) throw new BootError(`${name}: not an ELF file`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const cls = file[4];
  if (file[5] !== 1) throw new BootError(`${name}: big-endian ELF`);
  if (cls !== 1 && cls !== 2) throw new BootError(`${name}: ELF class ${cls}`);
  const bits = cls === 1 ? 32 : 64;
  const entry = bits === 32 ? v.getUint32(24, true) : num(v.getBigUint64(24, true), "entry");
  const phoff = bits === 32 ? v.getUint32(28, true) : num(v.getBigUint64(32, true), "e_phoff");
  const phentsize = v.getUint16(bits === 32 ? 42 : 54, true);
  const phnum = v.getUint16(bits === 32 ? 44 : 56, true);
  if (phoff + phnum * phentsize > file.length) {
    throw new BootError(`${name}: program headers beyond the end of the file`);
  }
  const segments: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const ph = bits === 32
      ? {
        type: v.getUint32(at, true),
        offset: v.getUint32(at + 4, true),
        vaddr: v.getUint32(at + 8, true),
        paddr: v.getUint32(at + 12, true),
        filesz: v.getUint32(at + 16, true),
        memsz: v.getUint32(at + 20, true),
      }
      : {
        type: v.getUint32(at, true),
        offset: num(v.getBigUint64(at + 8, true), "p_offset"),
        vaddr: num(v.getBigUint64(at + 16, true) & 0xffff_ffff_ffffn, "p_vaddr"),
        paddr: num(v.getBigUint64(at + 24, true), "p_paddr"),
        filesz: num(v.getBigUint64(at + 32, true), "p_filesz"),
        memsz: num(v.getBigUint64(at + 40, true), "p_memsz"),
      };
    if (ph.type === PT_LOAD && ph.offset + ph.filesz > file.length) {
      throw new BootError(`${name}: segment ${i} extends beyond the end of the file`);
    }
    segments.push(ph);
  }
  return { bits, entry, segments };
}

/** The notes of every PT_NOTE segment. */
export function elfNotes(file: Uint8Array, elf: Elf): ElfNote[] {
  const notes: ElfNote[] = [];
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (const s of elf.segments) {
    if (s.type !== PT_NOTE) continue;
    let at = s.offset;
    const end = Math.min(s.offset + s.filesz, file.length);
    while (at + 12 <= end) {
      const namesz = v.getUint32(at, true), descsz = v.getUint32(at + 4, true), type = v.getUint32(at + 8, true);
      const nameAt = at + 12;
      const descAt = nameAt + Math.ceil(namesz / 4) * 4;
      const next = descAt + Math.ceil(descsz / 4) * 4;
      if (next > end) break;
      const name = new TextDecoder().decode(file.subarray(nameAt, nameAt + Math.max(0, namesz - 1)));
      notes.push({ name, type, desc: file.subarray(descAt, descAt + descsz) });
      at = next;
    }
  }
  return notes;
}

/** Copies every PT_LOAD segment to its physical address (zeroing memsz beyond filesz); returns the highest end. */
export function loadSegments(
  file: Uint8Array,
  elf: Elf,
  write: (addr: number, data: Uint8Array, what: string) => void,
): number {
  let end = 0;
  for (const [i, s] of elf.segments.entries()) {
    if (s.type !== PT_LOAD || s.memsz === 0) continue;
    const bytes = new Uint8Array(s.memsz);
    bytes.set(file.subarray(s.offset, s.offset + Math.min(s.filesz, s.memsz)));
    write(s.paddr, bytes, `ELF segment ${i}`);
    end = Math.max(end, s.paddr + s.memsz);
  }
  return end;
}
