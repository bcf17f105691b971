; plat_ioapic: IOAPIC edge delivery (the PIT on pin 2, as the MADT override says) with masking,
; and a level-triggered line (the RTC on pin 8, asserted until register C is read) with
; Remote IRR holding it back until the LAPIC's EOI.
%include "plat_common.inc"

lvl_count   equ scratch
lvl_rirr    equ scratch + 4

main:
        call lapic_enable
        call t_edge
        call t_level
        ret

t_edge:
        mov dword [eoi_mode], EOI_LAPIC
        mov ecx, 2
        mov eax, 0x50                           ; edge, fixed, physical, vector 0x50
        xor edx, edx                            ; APIC ID 0
        call ioapic_set
        mov al, 0x34                            ; PIT channel 0, mode 2
        out 0x43, al
        mov al, 1193 & 0xFF                     ; 1 ms
        out 0x40, al
        mov al, 1193 >> 8
        out 0x40, al
        mov ebx, vec_count + 0x50 * 4
        mov ecx, 5
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "ioapic-edge"
        mov ecx, 2
        mov eax, 0x10050                        ; masked
        xor edx, edx
        call ioapic_set
        mov eax, 4000000                        ; let an interrupt in flight land
        call delay_tsc
        mov ebx, [vec_count + 0x50 * 4]
        mov eax, 40000000                       ; 20 ms: 20 PIT periods
        call delay_tsc
        cmp ebx, [vec_count + 0x50 * 4]
        FAILIF ne, "ioapic-mask"
        mov al, 0x30                            ; stop the PIT (mode 0, no count)
        out 0x43, al
        PASS "ioapic-edge"
        ret

; The hook EOIs vector 0x51 itself: not the first time (to see Remote IRR hold the line),
; and it reads RTC register C (dropping the line) only from the second delivery on.
level_hook:
        cmp eax, 0x51
        jne .out
        inc dword [lvl_count]
        cmp dword [lvl_count], 1
        je .out                                 ; first: leave it in service
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        mov dword [LAPIC + 0xB0], 0
.out:
        ret

t_level:
        mov dword [eoi_mode], EOI_NONE
        mov dword [irq_hook], level_hook
        mov ecx, 8
        mov eax, 0x8051                         ; level, vector 0x51
        xor edx, edx
        call ioapic_set
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        mov al, 0x0A
        out 0x70, al
        mov al, 0x26                            ; 1024 Hz
        out 0x71, al
        mov al, 0x0B
        out 0x70, al
        mov al, 0x42                            ; PIE, 24-hour
        out 0x71, al
        mov ebx, lvl_count
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "ioapic-level"
        mov ecx, 8
        call ioapic_get_lo
        test eax, 1 << 14
        FAILIF z, "ioapic-level-remote-irr"
        mov eax, 20000000                       ; 10 ms: held back by Remote IRR
        call delay_tsc
        cmp dword [lvl_count], 1
        FAILIF ne, "ioapic-level-held"
        mov dword [LAPIC + 0xB0], 0             ; EOI: the still-asserted line fires again
        mov ebx, lvl_count
        mov ecx, 4
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "ioapic-level-eoi"
        mov al, 0x0B                            ; RTC interrupts off
        out 0x70, al
        mov al, 0x02
        out 0x71, al
        mov ecx, 8
        mov eax, 0x18051
        xor edx, edx
        call ioapic_set
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        mov dword [irq_hook], 0
        mov dword [eoi_mode], EOI_LAPIC
        PASS "ioapic-level"
        ret

PLAT_END
