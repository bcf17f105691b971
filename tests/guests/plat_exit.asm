; plat_exit: the ways a VM ends, picked by "mode=X" on the Multiboot command line:
;   s  ACPI S5 through PM1a control             -> bhyve exits 1 (powered off)
;   r  reset through port 0xCF9 (6)              -> 0 (reset)
;   k  reset through the keyboard controller     -> 0
;   a  system control port A (0x92): A20 (bit 1) reads back, then bit 0 resets -> 0
;   d  pc-testdev's exit port: 0x20 to port 0xF4 (bhyve -l pc-testdev) -> (0x20 << 1) | 1 = 65
;   t  triple fault (empty IDT, then int3)       -> 3
;   e  IN from port 0x1234: with -e the VM stops -> 4; without, it reads 0xFF, then S5 -> 1
;   h  halt with interrupts off                  -> 2
;   p  enable ACPI, arm the power button on the SCI, print "plat: ready" and wait; on SIGTERM
;      bhyve presses the button, the SCI handler sees PWRBTN_STS and powers off -> 1
%include "plat_common.inc"

main:
        call lapic_enable
        mov ebx, [mb_info]
        test dword [ebx], 4
        jz .default
        mov esi, [ebx + 16]
.scan:
        mov eax, [esi]
        test al, al
        jz .default
        cmp eax, 'mode'
        jne .next
        cmp byte [esi + 4], '='
        je .found
.next:
        inc esi
        jmp .scan
.found:
        movzx eax, byte [esi + 5]
        cmp al, 's'
        je m_s5
        cmp al, 'r'
        je m_cf9
        cmp al, 'k'
        je m_kbd
        cmp al, 'a'
        je m_porta
        cmp al, 'd'
        je m_debugexit
        cmp al, 't'
        je m_triple
        cmp al, 'e'
        je m_badport
        cmp al, 'h'
        je m_halt
        cmp al, 'p'
        je m_pwrbtn
.default:
        SAY "plat: no mode= on the command line"
        ret

m_s5:
        SAY "plat: S5"
        ret                                     ; main returns: the frame powers off

m_cf9:
        SAY "plat: reset via 0xCF9"
        mov dx, 0xCF9
        mov al, 0x02
        out dx, al
        mov al, 0x06
        out dx, al
        jmp m_stuck

m_kbd:
        SAY "plat: reset via the keyboard controller"
        mov al, 0xFE
        out 0x64, al
        jmp m_stuck

m_porta:
        mov al, 0x02                            ; A20 on
        out 0x92, al
        in al, 0x92
        test al, 0x02
        FAILIF z, "porta-a20-set"
        xor al, al                              ; A20 off reads back off
        out 0x92, al
        in al, 0x92
        test al, 0x02
        FAILIF nz, "porta-a20-clear"
        SAY "plat: reset via port 0x92"
        mov al, 0x03                            ; A20 on, fast reset
        out 0x92, al
        jmp m_stuck

m_debugexit:
        SAY "plat: exit via port 0xF4"
        mov al, 0x20
        out 0xF4, al
        jmp m_stuck

m_triple:
        SAY "plat: triple fault"
        lidt [null_idt]
        int3
        jmp m_stuck

m_badport:
        mov dx, 0x1234
        in al, dx
        cmp al, 0xFF
        FAILIF ne, "unclaimed-port"
        SAY "plat: unclaimed port read 0xFF"
        ret

m_halt:
        SAY "plat: halting"
        cli
        hlt
        jmp m_stuck

m_pwrbtn:
        mov ecx, 9
        mov eax, 0xA059                         ; level, active low, vector 0x59
        xor edx, edx
        call ioapic_set
        mov dword [irq_hook], sci_hook
        mov dword [eoi_mode], EOI_LAPIC
        mov dx, 0xB2
        mov al, 0xA0                            ; ACPI_ENABLE_VALUE
        out dx, al
        mov dx, PM1A_CNT
        in ax, dx
        test al, 1
        FAILIF z, "acpi-enable"
        mov dx, PM1A_CNT - 2                    ; PM1a enable: PWRBTN_EN
        mov ax, 0x100
        out dx, ax
        SAY "plat: ready"
        sti
.wait:
        hlt
        jmp .wait

sci_hook:
        cmp eax, 0x59
        jne .out
        mov dx, PM1A_CNT - 4                    ; PM1a status
        in ax, dx
        test ax, 0x100
        jz .out
        out dx, ax                              ; write 1 to clear
        SAY "plat: power button"
        jmp poweroff
.out:
        ret

m_stuck:
        SAY "plat: FAIL still running"
        cli
        hlt
        jmp m_stuck

align 4
null_idt:
        dw 0
        dd 0

PLAT_END
