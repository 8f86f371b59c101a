; hello.asm: a 16-bit real-mode guest for examples/hello.ts.
;
; The host loads these bytes at guest-physical 0x1000 and starts the vCPU in
; real mode with cs.selector = 0x0100, cs.base = 0x1000, ip = 0, so offset 0
; of this file is the first instruction executed. The guest writes the
; message below to the serial port 0x3f8 one byte at a time (each `out` is
; one I/O exit the host sees), then halts (a hlt exit).
;
; Assemble: nasm -f bin -o hello.bin hello.asm   (or: deno task asm)

bits 16                         ; real mode: 16-bit operands and addresses
org 0                           ; offsets are relative to cs.base (0x1000)

start:
    mov ax, cs                  ; ax = the code segment (0x0100)
    mov ds, ax                  ; ds = cs, so ds:si reaches the message below
    mov si, message             ; si = offset of the first byte to print
    mov dx, 0x3f8               ; dx = COM1 data port, the port `out` writes to
    cld                         ; clear DF so that lodsb counts si upwards
next:
    lodsb                       ; al = byte at ds:si, then si = si + 1
    test al, al                 ; is it the terminating zero?
    jz done                     ; yes: the whole message has been written
    out dx, al                  ; write al to port 0x3f8 (one io exit)
    jmp next                    ; go on with the next byte
done:
    hlt                         ; stop: the host sees a hlt exit

message:
    db "Hello from a kvmkit guest!", 10, 0  ; the text, a newline, the end mark
