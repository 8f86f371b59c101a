#!/bin/sh
# Builds guest.bin, the flat image examples/c_guest/run.ts loads at 0x100000:
# freestanding C with gcc, no libc, no PIC, no red zone (the host may
# interrupt it at any instruction), linked by link.ld, flattened by objcopy.
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -ffreestanding -nostdlib -static -fno-pic -fno-pie -mno-red-zone -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none"
gcc $CFLAGS -c start.S -o start.o
gcc $CFLAGS -c guest.c -o guest.o
gcc $CFLAGS -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -T link.ld start.o guest.o -o guest.elf
objcopy -O binary guest.elf guest.bin
rm -f start.o guest.o guest.elf
echo "guest.bin: $(wc -c < guest.bin) bytes"
# guest.elf: the same program for debugging with gdb (examples/gdb_guest.ts):
# with symbols and DWARF, -Og and no inlining, so that every function can be
# broken at by name and its locals printed.
DEBUG_CFLAGS="$CFLAGS -Og -g -fno-inline"
gcc $DEBUG_CFLAGS -c start.S -o start.o
gcc $DEBUG_CFLAGS -c guest.c -o guest.o
gcc $DEBUG_CFLAGS -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -T link.ld start.o guest.o -o guest.elf
rm -f start.o guest.o
echo "guest.elf: $(wc -c < guest.elf) bytes (with symbols)"
