; plat_x2apic: the local APIC in x2APIC mode (bhyve -x): CPUID advertises it, IA32_APIC_BASE
; switches to it, the registers are MSRs 0x800-0x8FF (ID, SVR, LVT timer, initial count, EOI,
; SELF IPI, ICR as one 64-bit MSR).
%include "plat_common.inc"

%macro WRMSR 2
        mov ecx, %1
        mov eax, %2
        xor edx, edx
        wrmsr
%endmacro

main:
        mov eax, 1
        cpuid
        test ecx, 1 << 21
        FAILIF z, "x2apic-cpuid"
        mov ecx, 0x1B
        rdmsr
        or eax, 0xC00                           ; EN | EXTD
        wrmsr
        mov ecx, 0x802                          ; x2APIC ID: 32 bits, 0 for the BSP
        rdmsr
        test eax, eax
        FAILIF nz, "x2apic-id"
        mov dword [eoi_mode], EOI_NONE
        mov dword [irq_hook], x2_eoi
        WRMSR 0x80F, 0x1FF                      ; SVR: enabled
        WRMSR 0x83F, 0x46                       ; SELF IPI
        mov ebx, vec_count + 0x46 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "x2apic-self-ipi"
        WRMSR 0x830, 0x40047                    ; ICR, shorthand self
        mov ebx, vec_count + 0x47 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "x2apic-icr"
        WRMSR 0x83E, 0xB                        ; divide by 1
        WRMSR 0x832, 0x48                       ; LVT timer: one-shot, vector 0x48
        WRMSR 0x838, 2000000                    ; 1 ms
        mov ebx, vec_count + 0x48 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "x2apic-timer"
        PASS "x2apic"
        ret

x2_eoi:
        push ecx
        push edx
        WRMSR 0x80B, 0
        pop edx
        pop ecx
        ret

PLAT_END
