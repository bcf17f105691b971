; mb_smp: a Multiboot v1 test kernel for two vCPUs.  The BSP copies a real-mode trampoline to
; 0x8000, starts the AP with INIT + SIPI + SIPI through its local APIC's ICR (xAPIC MMIO at
; 0xFEE00000), waits for the AP to report in, prints the result on COM1 and powers off (ACPI
; S5).  The AP prints "mb_smp: AP up" in real mode and halts with interrupts off.
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010003
COM1        equ 0x3F8
PM1A_CNT    equ 0x404
SLP_S5      equ (5 << 10) | (1 << 13)
LAPIC       equ 0xFEE00000
ICR_LO      equ LAPIC + 0x300
ICR_HI      equ LAPIC + 0x310
TRAMPOLINE  equ 0x8000
AP_FLAG     equ 0x6000

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
        mov dword [AP_FLAG], 0
        ; Copy the trampoline below 1 MiB.
        mov esi, ap_start
        mov edi, TRAMPOLINE
        mov ecx, ap_end - ap_start
        cld
        rep movsb
        ; INIT, then two SIPIs with vector 0x08 (0x8000), to APIC ID 1.
        mov dword [ICR_HI], 1 << 24
        mov dword [ICR_LO], 0x00004500
        call delay
        mov dword [ICR_HI], 1 << 24
        mov dword [ICR_LO], 0x00004600 | (TRAMPOLINE >> 12)
        call delay
        mov dword [ICR_HI], 1 << 24
        mov dword [ICR_LO], 0x00004600 | (TRAMPOLINE >> 12)
        ; Wait (bounded) for the AP.
        mov ecx, 200000000
.wait:
        cmp dword [AP_FLAG], 0x1234
        je .up
        pause
        dec ecx
        jnz .wait
        mov esi, msg_timeout
        call puts
        jmp poweroff
.up:
        mov esi, msg_ok
        call puts
poweroff:
        mov dx, PM1A_CNT
        mov ax, SLP_S5
        out dx, ax
halt:
        cli
        hlt
        jmp halt

delay:
        mov ecx, 10000
.l:     dec ecx
        jnz .l
        ret

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

msg_ok      db "mb_smp: BSP saw the AP", 10, 0
msg_timeout db "mb_smp: AP did not start", 10, 0

; ---- Real-mode trampoline, copied to 0x8000; CS = 0x0800, IP = 0 ----
bits 16
ap_start:
        cli
        xor ax, ax
        mov ds, ax
        mov si, TRAMPOLINE + (ap_msg - ap_start)
.next:
        mov al, [si]
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
        inc si
        jmp .next
.done:
        mov dword [AP_FLAG], 0x1234
.halt:
        cli
        hlt
        jmp .halt
ap_msg  db "mb_smp: AP up", 10, 0
ap_end:

align 16
image_end:
stack_top    equ image_end + 4096
bss_end      equ stack_top
