; plat_pic: the 8259 pair through LINT0 (ExtINT): the PIT on the master's IRQ0, the RTC on the
; slave's IRQ8 through the cascade, with normal EOIs, in auto-EOI mode, and with the master in
; special fully nested mode.
%include "plat_common.inc"

main:
        call lapic_enable
        mov dword [LAPIC + 0x350], 0x700        ; LINT0: ExtINT, unmasked
        mov dword [irq_hook], rtc_hook
        call t_master
        mov al, 0x01
        call t_cascade
        FAILIF z, "pic-cascade"
        PASS "pic-cascade"
        mov al, 0x03                            ; auto-EOI on both chips
        mov dword [eoi_mode], EOI_NONE
        call t_cascade
        FAILIF z, "pic-aeoi"
        mov al, 0x0B                            ; read ISR: nothing left in service
        out 0x20, al
        out 0xA0, al
        in al, 0x20
        mov ah, al
        in al, 0xA0
        or al, ah
        FAILIF nz, "pic-aeoi-isr"
        PASS "pic-aeoi"
        mov dword [eoi_mode], EOI_PIC2
        mov al, 0x11                            ; special fully nested master
        call t_cascade
        FAILIF z, "pic-sfnm"
        PASS "pic-sfnm"
        ret

t_master:
        mov dword [eoi_mode], EOI_PIC
        mov al, 0x01
        mov bl, 0xFE                            ; IRQ0 only
        mov bh, 0xFF
        call pic_init
        mov al, 0x34
        out 0x43, al
        mov al, 1193 & 0xFF
        out 0x40, al
        mov al, 1193 >> 8
        out 0x40, al
        mov ebx, vec_count + 0x20 * 4
        mov ecx, 5
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "pic-master"
        cli
        mov al, 0x30
        out 0x43, al
        mov al, 0xFF
        out 0x21, al
        PASS "pic-master"
        ret

; The RTC's IRQ8 stays asserted until register C is read.
rtc_hook:
        cmp eax, 0x28
        jne .out
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
.out:
        ret

; t_cascade: ICW4 in al; counts 5 RTC interrupts through the slave.  ZF clear if they came.
t_cascade:
        cli
        cmp dword [eoi_mode], EOI_NONE
        je .keep
        mov dword [eoi_mode], EOI_PIC2
.keep:
        mov bl, 0xFB                            ; master: cascade input only
        mov bh, 0xFE                            ; slave: IRQ8
        call pic_init
        mov al, 0x0A
        out 0x70, al
        mov al, 0x26
        out 0x71, al
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        mov al, 0x0B
        out 0x70, al
        mov al, 0x42
        out 0x71, al
        mov ecx, [vec_count + 0x28 * 4]
        add ecx, 5
        mov ebx, vec_count + 0x28 * 4
        mov edi, 1
        call wait_ge
        cli
        push eax
        mov al, 0x0B
        out 0x70, al
        mov al, 0x02
        out 0x71, al
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        pop eax
        test eax, eax
        ret

PLAT_END
