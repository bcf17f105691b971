; A 64 KiB boot ROM for `bhyve -l bootrom,FILE`: it is mapped to end at 4 GiB, so the CPU's
; first fetch (CS.base 0xFFFF0000, IP 0xFFF0) lands 16 bytes before its end.  It runs in real
; mode, prints a line on COM1 and resets the machine through port 0xCF9 (bhyve exits 0).
bits 16
org 0

start:
	cli
	mov si, msg             ; read through CS: only CS's hidden base (0xFFFF0000) reaches the
	mov dx, 0x3f8           ; ROM until CS is reloaded; a data segment of 0xF000 would not
.next:
	cs lodsb
	test al, al
	jz .done
	out dx, al
	jmp .next
.done:
	mov dx, 0xcf9           ; reset control register: 0x6 = system reset + CPU reset
	mov al, 0x6
	out dx, al
.hang:
	hlt
	jmp .hang

msg:	db "rom: hello from the reset vector", 13, 10, 0

	times 0xfff0 - ($ - $$) db 0xff
reset_vector:                   ; physical 0xFFFFFFF0
	jmp start
	times 0x10000 - ($ - $$) db 0xff
