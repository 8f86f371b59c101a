; memset_rep: memset_loop with `rep stosb` filling the 16 KiB (with the low
; byte of the value).
%define REP_STOSB
%include "memset_loop.asm"
