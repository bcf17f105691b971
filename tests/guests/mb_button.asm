; mb_button: a Multiboot v1 test kernel that waits for the ACPI power button.  It prints
; "mb_button: waiting", polls PM1a status (0x400) until PWRBTN_STS (bit 8) is set -- bhyve
; sets it when it gets SIGTERM -- acknowledges it (write 1 to clear), prints
; "mb_button: power button" and powers off through ACPI S5.
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010003
COM1        equ 0x3F8
PM1A_STS    equ 0x400
PM1A_CNT    equ 0x404
PWRBTN_STS  equ 0x100
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
        mov esi, msg_wait
        call puts
.poll:
        mov dx, PM1A_STS
        in ax, dx
        test ax, PWRBTN_STS
        jnz .pressed
        pause
        jmp .poll
.pressed:
        mov ax, PWRBTN_STS
        out dx, ax
        mov esi, msg_pressed
        call puts
        mov dx, PM1A_CNT
        mov ax, SLP_S5
        out dx, ax
halt:
        cli
        hlt
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

msg_wait    db "mb_button: waiting", 10, 0
msg_pressed db "mb_button: power button", 10, 0

align 16
image_end:
stack_top    equ image_end + 4096
bss_end      equ stack_top
