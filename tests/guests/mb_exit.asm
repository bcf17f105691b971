; mb_exit: a Multiboot v1 test kernel that ends the VM the way its command line asks, to check
; bhyve's exit status for each: "mb_exit.bin reset" (0xCF9 <- 6: reset, status 0),
; "... poweroff" (ACPI S5, status 1), "... halt" (cli; hlt, status 2), "... fault" (ud2 with no
; IDT: triple fault, status 3).  It prints "mb_exit: <word>" on COM1 first.
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010003
COM1        equ 0x3F8
PM1A_CNT    equ 0x404
SLP_S5      equ (5 << 10) | (1 << 13)
RESET_CF9   equ 0xCF9

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
        xor ebp, ebp                ; the word after the first space, or none
        test dword [ebx], 4
        jz .have
        mov esi, [ebx + 16]
.skip:
        lodsb
        test al, al
        jz .have
        cmp al, ' '
        jne .skip
        mov ebp, esi
.have:
        mov esi, msg
        call puts
        test ebp, ebp
        jz do_halt
        mov esi, ebp
        call puts
        mov esi, nl
        call puts
        mov al, [ebp]
        cmp al, 'r'
        je do_reset
        cmp al, 'p'
        je do_poweroff
        cmp al, 'f'
        je do_fault
do_halt:
        cli
        hlt
        jmp do_halt
do_reset:
        mov dx, RESET_CF9
        mov al, 0x06
        out dx, al
        jmp do_halt
do_poweroff:
        mov dx, PM1A_CNT
        mov ax, SLP_S5
        out dx, ax
        jmp do_halt
do_fault:
        lidt [null_idt]
        ud2

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

msg     db "mb_exit: ", 0
nl      db 10, 0
null_idt:
        dw 0
        dd 0

align 16
image_end:
stack_top    equ image_end + 4096
bss_end      equ stack_top
