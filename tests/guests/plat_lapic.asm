; plat_lapic: the local APIC timer in one-shot, periodic and TSC-deadline modes, a self IPI,
; and IPIs between two vCPUs (the AP is started with INIT/SIPI).  Run with 2 vCPUs.
%include "plat_common.inc"

TRAMP       equ 0x8000
ap_alive    equ scratch

main:
        call lapic_enable
        mov dword [eoi_mode], EOI_LAPIC
        call t_oneshot
        call t_periodic
        call t_deadline
        call t_self_ipi
        call t_smp
        ret

t_oneshot:
        mov dword [LAPIC + 0x3E0], 0xB          ; divide by 1
        mov dword [LAPIC + 0x320], 0x40         ; one-shot, vector 0x40
        mov dword [LAPIC + 0x380], 20000000     ; 10 ms at the 2 GHz crystal
        mov ebx, vec_count + 0x40 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "lapic-oneshot"
        mov eax, 100000000                      ; 50 ms more: no second interrupt
        call delay_tsc
        cmp dword [vec_count + 0x40 * 4], 1
        FAILIF ne, "lapic-oneshot-once"
        cmp dword [LAPIC + 0x390], 0
        FAILIF ne, "lapic-oneshot-ccr"
        PASS "lapic-oneshot"
        ret

t_periodic:
        mov dword [LAPIC + 0x320], 0x20041      ; periodic, vector 0x41
        mov dword [LAPIC + 0x380], 2000000      ; 1 ms
        mov ebx, vec_count + 0x41 * 4
        mov ecx, 5
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "lapic-periodic"
        mov eax, [LAPIC + 0x390]
        test eax, eax
        FAILIF z, "lapic-periodic-ccr"          ; reloads: never stuck at 0
        mov dword [LAPIC + 0x320], 0x10041
        mov dword [LAPIC + 0x380], 0
        PASS "lapic-periodic"
        ret

t_deadline:
        mov dword [LAPIC + 0x320], 0x40042      ; TSC-deadline, vector 0x42
        rdtsc
        add eax, 2000000                        ; ~1 ms ahead
        adc edx, 0
        mov ecx, 0x6E0
        wrmsr
        mov ebx, vec_count + 0x42 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "lapic-tsc-deadline"
        mov ecx, 0x6E0
        rdmsr
        or eax, edx
        FAILIF nz, "lapic-tsc-deadline-cleared"
        mov dword [LAPIC + 0x320], 0x10000
        PASS "lapic-tsc-deadline"
        ret

t_self_ipi:
        mov dword [LAPIC + 0x310], 0
        mov dword [LAPIC + 0x300], 0x40043      ; shorthand self, fixed, vector 0x43
        mov ebx, vec_count + 0x43 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "lapic-self-ipi"
        PASS "lapic-self-ipi"
        ret

; Start the AP, then ping-pong: BSP -> AP vector 0x44, the AP answers with 0x45.
t_smp:
        mov esi, tramp_start
        mov edi, TRAMP
        mov ecx, tramp_end - tramp_start
        rep movsb
        mov dword [irq_hook], ipi_hook
        mov dword [LAPIC + 0x310], 1 << 24
        mov dword [LAPIC + 0x300], 0x4500       ; INIT
        mov eax, 20000000
        call delay_tsc
        mov dword [LAPIC + 0x300], 0x4600 | (TRAMP >> 12)   ; SIPI
        mov eax, 400000
        call delay_tsc
        mov dword [LAPIC + 0x300], 0x4600 | (TRAMP >> 12)   ; second SIPI, as the MP spec says
        mov ebx, ap_alive
        mov ecx, 1
        mov edi, 2
        call wait_ge
        test eax, eax
        FAILIF z, "lapic-ap-start"
        mov dword [LAPIC + 0x310], 1 << 24
        mov dword [LAPIC + 0x300], 0x44         ; fixed IPI to APIC ID 1
        mov ebx, vec_count + 0x45 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "lapic-ipi"
        cmp dword [vec_count + 0x44 * 4], 1
        FAILIF ne, "lapic-ipi-ap"
        mov dword [irq_hook], 0
        PASS "lapic-ipi"
        ret

; Runs in the interrupt handler on either vCPU (eax = vector).
ipi_hook:
        cmp eax, 0x44
        jne .out
        mov dword [LAPIC + 0x310], 0            ; back to APIC ID 0
        mov dword [LAPIC + 0x300], 0x45
.out:
        ret

; The AP in protected mode: its own stack, the shared IDT, its LAPIC on, then wait.
ap_entry:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, ap_stack
        lidt [idt_desc]
        call lapic_enable
        lock inc dword [ap_alive]
        sti
.idle:
        hlt
        jmp .idle

bits 16
tramp_start:
        cli
        mov ax, TRAMP >> 4
        mov ds, ax
        lgdt [tr_gdtr - tramp_start]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword 0x08:ap_entry
tr_gdtr:
        dw gdt_end - gdt - 1
        dd gdt
tramp_end:
bits 32

PLAT_END
