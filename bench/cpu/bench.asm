; CPU benchmark guest: a Multiboot (a.out kludge) kernel that enters long mode and runs an
; integer loop with a known instruction mix, then writes port 0xF4 (QEMU isa-debug-exit; the
; bench driver for our CPU stops there too) and halts.
;
; Exact retired instruction count for an even ITERS (patched at offset `iters`):
;   25 (set-up, numbered below) + 27 * ITERS / 2 (loop) + 2 (mov al / out) [+ 1 hlt]
; Loop body per iteration: 13 instructions when RCX is even, 14 when odd (the INC).
	bits 32
	org 0x100000

MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 0x00010000

mb_header:
	dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
	dd mb_header, mb_header, load_end, bss_end, start
iters:	dd 2000000                     ; patched by the driver (must be even)
	dd 0

start:
	cli                             ; 1
	mov esp, stack_top              ; 2
	mov eax, pml4                   ; 3
	mov cr3, eax                    ; 4
	mov eax, cr4                    ; 5
	or eax, 0x20                    ; 6  PAE
	mov cr4, eax                    ; 7
	mov ecx, 0xC0000080             ; 8
	rdmsr                           ; 9
	or eax, 0x100                   ; 10 LME
	wrmsr                           ; 11
	mov eax, cr0                    ; 12
	or eax, 0x80000001              ; 13 PG | PE
	mov cr0, eax                    ; 14
	lgdt [gdtr]                     ; 15
	jmp 0x08:long_entry             ; 16

	bits 64
long_entry:
	mov ax, 0x10                    ; 17
	mov ds, ax                      ; 18
	mov ss, ax                      ; 19
	mov es, ax                      ; 20
	mov rsp, stack_top              ; 21
	lea rsi, [rel work]             ; 22
	mov ecx, [rel iters]            ; 23
	xor edx, edx                    ; 24
	xor ebx, ebx                    ; 25
.loop:
	mov rax, [rsi]                  ; load
	add rax, rcx                    ; ALU
	mov [rsi + 8], rax              ; store
	xor rdx, rax
	lea r8, [rax + rdx * 2]
	sub r8, rbx
	test cl, 1
	jz .even                        ; branch (taken for even RCX)
	inc rbx
.even:
	call leaf                       ; call + 2 in leaf
	dec rcx
	jnz .loop
	mov al, 0
	out 0xf4, al                    ; QEMU exits here (status 1)
	hlt
	jmp $ - 1

leaf:
	add rdx, r8
	ret

	align 8
gdt:	dq 0, 0x00209A0000000000, 0x00CF92000000FFFF
gdtr:	dw gdtr - gdt - 1
	dd gdt

	align 4096
pml4:	dq pdpt + 3
	times 511 dq 0
pdpt:	dq pd + 3
	times 511 dq 0
pd:	dq 0x83                         ; 2 MiB identity page at 0
	times 511 dq 0
work:	times 64 dq 0
load_end:
	align 16
	resb 0
bss_end equ load_end + 8192
stack_top equ bss_end
