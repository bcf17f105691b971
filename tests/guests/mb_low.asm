; mb_low: a Multiboot v1 kernel loaded below 1 MiB (a.out kludge, load address 0x8000), which
; the Multiboot specification allows anywhere in RAM.  It checks that it runs where it was
; linked and was entered as Multiboot says, prints "mb_low: running at 0x8000" on COM1 and
; powers off through ACPI S5 (bhyve exit status 1).
bits 32
org 0x8000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010003
COM1        equ 0x3F8
PM1A_CNT    equ 0x404
SLP_S5      equ (5 << 10) | (1 << 13)

mb_header:
        dd MB_MAGIC
        dd MB_FLAGS
        dd -(MB_MAGIC + MB_FLAGS)
        dd mb_header
        dd mb_header
        dd 0
        dd bss_end
        dd entry

entry:
        mov esp, stack_top
        cmp eax, 0x2BADB002
        jne fail
        call .here                      ; where are we really?
.here:
        pop eax
        cmp eax, .here
        jne fail
        cmp dword [bss_word], 0         ; the loader cleared the bss
        jne fail
        mov esi, msg_ok
        call puts
        mov dx, PM1A_CNT
        mov ax, SLP_S5
        out dx, ax
halt:
        cli
        hlt
        jmp halt
fail:
        mov esi, msg_fail
        call puts
        jmp halt

puts:
        lodsb
        test al, al
        jz .done
        mov bl, al
        mov dx, COM1 + 5
.wait:
        in al, dx
        test al, 0x20
        jz .wait
        mov al, bl
        mov dx, COM1
        out dx, al
        jmp puts
.done:
        ret

msg_ok      db "mb_low: running at 0x8000", 10, 0
msg_fail    db "mb_low: FAIL", 10, 0

align 4
image_end:
bss_word    equ image_end
stack_top   equ image_end + 4096
bss_end     equ stack_top
