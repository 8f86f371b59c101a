/**
 * Lazy arithmetic flags: an ALU operation records its kind, operands and
 * result; CF/PF/AF/ZF/SF/OF are computed only when something reads them.
 * Operations whose flags are cheap to compute at once (shifts, multiplies,
 * BCD) store them eagerly with `setArith`.
 *
 * @module
 */
import { State } from "./state.ts";

/** Flag-producing operation kinds. */
export const F_EAGER = 0, F_ADD = 1, F_ADC = 2, F_SUB = 3, F_SBB = 4, F_LOGIC = 5, F_INC = 6, F_DEC = 7;

/** EFLAGS bits. */
export const CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
export const IOPL = 0x3000, NT = 0x4000, RF = 0x10000, VM = 0x20000, AC = 0x40000, VIF = 0x80000, VIP = 0x100000;
export const ID = 0x200000;
/** The six arithmetic flags. */
export const ARITH = CF | PF | AF | ZF | SF | OF;

/** Operand-size masks and sign bits, indexed by size in bytes. */
export const MASK = [0, 0xff, 0xffff, 0, 0xffffffff];
export const SIGN = [0, 0x80, 0x8000, 0, 0x80000000];

/** PARITY[b] is PF for a result whose low byte is b. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let p = 1;
  for (let b = i; b; b >>= 1) p ^= b & 1;
  PARITY[i] = p;
}

/** State plus the lazy-flags record. */
export class FlagState extends State {
  fop = F_EAGER;
  fres = 0;
  fa = 0;
  fb = 0;
  fsize = 4;
  /** Carry-in of ADC/SBB, or the preserved CF of INC/DEC. */
  fcin = 0;
  /** The arithmetic flags when fop is F_EAGER. */
  fbits = 0;
  /** EFLAGS without the arithmetic flags (bit 1 always set). */
  eflRest = 2;

  /** Records an ALU result for lazy evaluation. Values are already masked to `size`. */
  lazy(op: number, a: number, b: number, res: number, size: number): void {
    this.fop = op;
    // Unsigned, whatever the caller computed them with: CF compares them as such.
    this.fa = a >>> 0;
    this.fb = b >>> 0;
    this.fres = res >>> 0;
    this.fsize = size;
  }

  /** Stores the arithmetic flags directly. */
  setArith(bits: number): void {
    this.fop = F_EAGER;
    this.fbits = bits & ARITH;
  }

  /** Sets ZF, SF and PF from a result, with CF/OF/AF given. */
  setResultFlags(res: number, size: number, cfofaf: number): void {
    this.fop = F_EAGER;
    this.fbits = (cfofaf & (CF | OF | AF)) | (res === 0 ? ZF : 0) | (res & SIGN[size] ? SF : 0) |
      (PARITY[res & 0xff] ? PF : 0);
  }

  cf(): number {
    switch (this.fop) {
      case F_ADD:
        return this.fres < this.fa ? 1 : 0;
      case F_ADC:
        return this.fres < this.fa || (this.fcin && this.fres === this.fa) ? 1 : 0;
      case F_SUB:
        return this.fa < this.fb ? 1 : 0;
      case F_SBB:
        return this.fa < this.fb || (this.fcin && this.fa === this.fb) ? 1 : 0;
      case F_LOGIC:
        return 0;
      case F_INC:
      case F_DEC:
        return this.fcin;
      default:
        return this.fbits & CF;
    }
  }

  zf(): number {
    return this.fop === F_EAGER ? (this.fbits >> 6) & 1 : this.fres === 0 ? 1 : 0;
  }

  sf(): number {
    return this.fop === F_EAGER ? (this.fbits >> 7) & 1 : this.fres & SIGN[this.fsize] ? 1 : 0;
  }

  pf(): number {
    return this.fop === F_EAGER ? (this.fbits >> 2) & 1 : PARITY[this.fres & 0xff];
  }

  af(): number {
    if (this.fop === F_EAGER) return (this.fbits >> 4) & 1;
    if (this.fop === F_LOGIC) return 0;
    return ((this.fa ^ this.fb ^ this.fres) >> 4) & 1;
  }

  of(): number {
    const s = SIGN[this.fsize];
    switch (this.fop) {
      case F_ADD:
      case F_ADC:
        return (this.fa ^ this.fres) & (this.fb ^ this.fres) & s ? 1 : 0;
      case F_SUB:
      case F_SBB:
        return (this.fa ^ this.fb) & (this.fa ^ this.fres) & s ? 1 : 0;
      case F_LOGIC:
        return 0;
      case F_INC:
        return this.fres === s ? 1 : 0;
      case F_DEC:
        return this.fres === s - 1 ? 1 : 0;
      default:
        return (this.fbits >> 11) & 1;
    }
  }

  /** The arithmetic flags as EFLAGS bits. */
  arith(): number {
    if (this.fop === F_EAGER) return this.fbits;
    return this.cf() | (this.pf() << 2) | (this.af() << 4) | (this.zf() << 6) | (this.sf() << 7) | (this.of() << 11);
  }

  /** The whole EFLAGS register. */
  getFlags(): number {
    return (this.eflRest | this.arith()) >>> 0;
  }

  /** Writes the whole EFLAGS register (reserved bits forced as hardware does). */
  setFlags(v: number): void {
    this.setArith(v);
    this.eflRest = ((v & ~ARITH & 0x3f7fd5) | 2) >>> 0;
  }

  /** Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc). */
  cond(cc: number): boolean {
    let r: number;
    switch (cc >> 1) {
      case 0:
        r = this.of();
        break;
      case 1:
        r = this.cf();
        break;
      case 2:
        r = this.zf();
        break;
      case 3:
        r = this.cf() | this.zf();
        break;
      case 4:
        r = this.sf();
        break;
      case 5:
        r = this.pf();
        break;
      case 6:
        r = this.sf() ^ this.of();
        break;
      default:
        r = (this.sf() ^ this.of()) | this.zf();
    }
    return (r !== 0) !== ((cc & 1) !== 0);
  }
}
