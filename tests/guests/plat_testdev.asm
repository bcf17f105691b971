; plat_testdev: pc-testdev (bhyve -l pc-testdev), as QEMU's pc-testdev behaves:
;   testdev-ioport  the 32-bit register at 0xE0: every width at every byte lane, the same
;                   register byte-wise at 0xE8
;   testdev-flush   a 32-bit write of an address to 0xE4 leaves that page's contents alone
;   testdev-iomem   64 KiB at 0xFF000000 read back as written (1, 2, 4 bytes, both ends)
;   testdev-edge    line 20 -> IOAPIC pin 20, edge: one interrupt per low-to-high change
;   testdev-level   line 21 -> IOAPIC pin 21, level: interrupts again after each EOI while
;                   the line stays high; the handler lowers it at the third
;   testdev-isa     line 10 -> ISA IRQ 10 through its IOAPIC pin 10
%include "plat_common.inc"

TD_DATA     equ 0xE0
TD_FLUSH    equ 0xE4
TD_BYTE     equ 0xE8
TD_IRQ      equ 0x2000
TD_MEM      equ 0xFF000000
V_EDGE      equ 0x50
V_LEVEL     equ 0x51
V_ISA       equ 0x52

main:
        call lapic_enable
        mov dword [eoi_mode], EOI_LAPIC
        call t_ioport
        call t_flush
        call t_iomem
        call t_edge
        call t_level
        call t_isa
        ret

t_ioport:
        mov dx, TD_DATA
        mov eax, 0x12345678
        out dx, eax
        in eax, dx
        cmp eax, 0x12345678
        FAILIF ne, "testdev-ioport-dword"
        mov dx, TD_DATA + 2
        mov al, 0xAB                            ; byte lane 2
        out dx, al
        mov dx, TD_DATA
        in eax, dx
        cmp eax, 0x12AB5678
        FAILIF ne, "testdev-ioport-byte-lane"
        mov dx, TD_DATA + 1
        in ax, dx                               ; lanes 1-2
        cmp ax, 0xAB56
        FAILIF ne, "testdev-ioport-word-lane"
        mov dx, TD_BYTE + 3                     ; the byte-wise view: lane 3
        in al, dx
        cmp al, 0x12
        FAILIF ne, "testdev-ioport-byteview"
        mov dx, TD_BYTE
        mov eax, 0xCAFEF00D
        out dx, eax
        mov dx, TD_DATA
        in eax, dx
        cmp eax, 0xCAFEF00D
        FAILIF ne, "testdev-ioport-byteview-write"
        PASS "testdev-ioport"
        ret

t_flush:
        mov dword [scratch + 0x1000], 0x5A5A1234
        mov eax, scratch + 0x1000
        mov dx, TD_FLUSH
        out dx, eax
        in eax, dx
        test eax, eax
        FAILIF nz, "testdev-flush-read"
        cmp dword [scratch + 0x1000], 0x5A5A1234
        FAILIF ne, "testdev-flush-keeps"
        mov eax, 0xFFFFF000                     ; outside RAM: ignored
        out dx, eax
        PASS "testdev-flush"
        ret

t_iomem:
        mov dword [TD_MEM], 0x11223344
        mov word [TD_MEM + 4], 0x5566
        mov byte [TD_MEM + 6], 0x77
        mov dword [TD_MEM + 0xFFFC], 0xA1B2C3D4
        cmp dword [TD_MEM], 0x11223344
        FAILIF ne, "testdev-iomem-dword"
        cmp dword [TD_MEM + 3], 0x77556611
        FAILIF ne, "testdev-iomem-unaligned"
        cmp byte [TD_MEM + 0xFFFF], 0xA1
        FAILIF ne, "testdev-iomem-end"
        cmp dword [TD_MEM + 0x10000], 0xFFFFFFFF   ; just past it: nothing decodes
        FAILIF ne, "testdev-iomem-past-end"
        PASS "testdev-iomem"
        ret

; line_set: line in ecx, level in al.
line_set:
        push edx
        lea edx, [ecx + TD_IRQ]
        out dx, al
        pop edx
        ret

t_edge:
        mov ecx, 20
        mov eax, V_EDGE                         ; edge, active high, fixed, APIC ID 0
        xor edx, edx
        call ioapic_set
        mov al, 1
        call line_set
        mov ebx, vec_count + V_EDGE * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "testdev-edge-first"
        mov ecx, 20
        mov al, 1                               ; still high: no new edge
        call line_set
        mov eax, 20000000
        call delay_tsc
        cmp dword [vec_count + V_EDGE * 4], 1
        FAILIF ne, "testdev-edge-no-repeat"
        mov ecx, 20
        mov al, 0
        call line_set
        mov al, 1
        call line_set
        mov ebx, vec_count + V_EDGE * 4
        mov ecx, 2
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "testdev-edge-second"
        mov ecx, 20
        mov al, 0
        call line_set
        mov dx, TD_IRQ + 20
        in al, dx
        test al, al
        FAILIF nz, "testdev-irq-read"
        PASS "testdev-edge"
        ret

t_level:
        mov dword [irq_hook], level_hook
        mov ecx, 21
        mov eax, V_LEVEL | (1 << 15)            ; level, active high
        xor edx, edx
        call ioapic_set
        mov al, 1
        call line_set
        mov ebx, vec_count + V_LEVEL * 4
        mov ecx, 3
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "testdev-level-repeats"
        mov eax, 20000000
        call delay_tsc
        cmp dword [vec_count + V_LEVEL * 4], 3
        FAILIF ne, "testdev-level-stops-when-low"
        mov ecx, 21
        call ioapic_get_lo
        test eax, 1 << 14
        FAILIF nz, "testdev-level-remote-irr"
        mov dword [irq_hook], 0
        PASS "testdev-level"
        ret

; In the handler, before the EOI: lower line 21 at the third interrupt.
level_hook:
        cmp eax, V_LEVEL
        jne .out
        cmp dword [vec_count + V_LEVEL * 4], 3
        jb .out
        push ecx
        mov ecx, 21
        mov al, 0
        call line_set
        pop ecx
.out:
        ret

t_isa:
        mov ecx, 10
        mov eax, V_ISA
        xor edx, edx
        call ioapic_set
        mov al, 1
        call line_set
        mov ebx, vec_count + V_ISA * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "testdev-isa"
        mov ecx, 10
        mov al, 0
        call line_set
        PASS "testdev-isa"
        ret

PLAT_END
