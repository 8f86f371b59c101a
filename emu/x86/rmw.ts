/**
 * Which instructions read and then write their memory operand (ADD m, r;
 * NOT m; XCHG; CMPXCHG; BTS; shifts...): their read is done with write
 * intent, so that a page fault on it reports W/R = 1 as the hardware does
 * and a read-only segment is refused before anything is read.
 *
 * @module
 */

/** True when opcode `op` (0x100-0x1ff: the 0F map) with ModRM.reg `reg` is a read-modify-write of r/m. */
export function isRmw(op: number, reg: number): boolean {
  if (op < 0x40) return (op & 7) < 2 && op >> 3 !== 7;
  switch (op) {
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83:
      return reg !== 7;
    case 0x86:
    case 0x87:
    case 0xc0:
    case 0xc1:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
    case 0x1a4:
    case 0x1a5:
    case 0x1ab:
    case 0x1ac:
    case 0x1ad:
    case 0x1b0:
    case 0x1b1:
    case 0x1b3:
    case 0x1bb:
    case 0x1c0:
    case 0x1c1:
      return true;
    case 0xf6:
    case 0xf7:
      return reg === 2 || reg === 3;
    case 0xfe:
    case 0xff:
      return reg <= 1;
    case 0x1ba:
      return reg >= 5;
    case 0x1c7:
      return reg === 1;
    default:
      return false;
  }
}
