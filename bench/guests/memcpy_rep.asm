; memcpy_rep: memcpy_loop with `rep movsb` copying the 16 KiB.
%define REP_MOVSB
%include "memcpy_loop.asm"
