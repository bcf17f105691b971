; plat_lapictimer: the local APIC timer's mode rules (SDM Vol. 3A 11.5.4) and APIC relocation.
;   lapic-mode-keep-count    one-shot -> periodic mid-count: the count goes on from where it
;                            was (not reloaded, not stopped), then reloads at each expiry
;   lapic-mode-to-oneshot    periodic -> one-shot mid-count: goes on, expires once, stays 0
;   lapic-mode-zero-stays    a one-shot count that ran out stays 0 after a switch to periodic
;   lapic-mode-tscdl-stops   a switch into TSC-deadline mode stops a running count
;   lapic-tscdl-past         a TSC deadline already passed interrupts before the instruction
;                            after the WRMSR completes
;   lapic-move               (unless "nomove" is on the command line) IA32_APIC_BASE moves the
;                            xAPIC page to 0xFED40000 and back
; A count read around a mode switch only counts when no expiry came in between (the vCPU may
; be descheduled anywhere on a loaded host); such a round is tried again, at most 5 times.
%include "plat_common.inc"

VEC         equ 0x46
VEC_DL      equ 0x47
T           equ 100000000                       ; initial count: 50 ms at the 2 GHz crystal
LVT_PER     equ 1 << 17
LVT_TSCDL   equ 2 << 17
ALT_BASE    equ 0xFED40000

main:
        call lapic_enable
        mov dword [eoi_mode], EOI_LAPIC
        mov dword [LAPIC + 0x3E0], 0xB          ; divide by 1
        sti
        call t_keep_count
        call t_to_oneshot
        call t_zero_stays
        call t_tscdl_stops
        call t_tscdl_past
        call want_move
        test eax, eax
        jz .nomove
        call t_move
.nomove:
        ret

; wait_ccr_below: wait (interrupts on) until the current count is below T/2; eax = 1 if so.
wait_ccr_below:
        push edx
        push esi
        rdtsc
        lea esi, [edx + 4]                      ; ~8 s
.l:
        mov eax, [LAPIC + 0x390]
        test eax, eax
        jz .l2
        cmp eax, T / 2
        jb .yes
.l2:
        pause
        rdtsc
        cmp edx, esi
        jb .l
        xor eax, eax
        jmp .out
.yes:
        mov eax, 1
.out:
        pop esi
        pop edx
        ret

; switch_mode: eax = new LVT timer value.  Reads the count before (ebp) and after (eax) the
; write; edx = 1 when an expiry came in between (the round does not count).
switch_mode:
        mov ecx, [vec_count + VEC * 4]
        mov ebp, [LAPIC + 0x390]
        mov [LAPIC + 0x320], eax
        mov eax, [LAPIC + 0x390]
        xor edx, edx
        cmp ecx, [vec_count + VEC * 4]
        setne dl
        ret

t_keep_count:
        mov dword [tries], 5
.again:
        mov dword [LAPIC + 0x320], VEC          ; one-shot
        mov dword [LAPIC + 0x380], T
        call wait_ccr_below
        test eax, eax
        FAILIF z, "lapic-mode-keep-count-start"
        mov eax, VEC | LVT_PER
        call switch_mode
        test edx, edx
        jz .judge
        dec dword [tries]
        jnz .again
.judge:
        test eax, eax
        FAILIF z, "lapic-mode-keep-count-stopped"
        cmp eax, ebp
        FAILIF a, "lapic-mode-keep-count-reloaded"
        mov ebx, vec_count + VEC * 4            ; periodic from now on: two more expiries
        mov ecx, [ebx]
        add ecx, 2
        mov edi, 4
        call wait_ge
        test eax, eax
        FAILIF z, "lapic-mode-keep-count-periodic"
        PASS "lapic-mode-keep-count"
        ret

t_to_oneshot:
        mov dword [tries], 5
.again:
        call wait_ccr_below                     ; still periodic from t_keep_count
        test eax, eax
        FAILIF z, "lapic-mode-to-oneshot-start"
        mov eax, VEC                            ; -> one-shot
        call switch_mode
        test edx, edx
        jz .judge
        mov dword [LAPIC + 0x320], VEC | LVT_PER
        mov dword [LAPIC + 0x380], T
        dec dword [tries]
        jnz .again
.judge:
        test eax, eax
        FAILIF z, "lapic-mode-to-oneshot-stopped"
        cmp eax, ebp
        FAILIF a, "lapic-mode-to-oneshot-reloaded"
        mov ebx, vec_count + VEC * 4            ; the one last expiry
        mov ecx, [ebx]
        inc ecx
        mov edi, 4
        call wait_ge
        test eax, eax
        FAILIF z, "lapic-mode-to-oneshot-expiry"
        mov esi, [ebx]
        mov eax, 3 * T                          ; three periods later: nothing more
        call delay_tsc
        cmp esi, [ebx]
        FAILIF ne, "lapic-mode-to-oneshot-reloads"
        cmp dword [LAPIC + 0x390], 0
        FAILIF ne, "lapic-mode-to-oneshot-ccr"
        PASS "lapic-mode-to-oneshot"
        ret

t_zero_stays:
        mov ebx, vec_count + VEC * 4
        mov esi, [ebx]
        mov dword [LAPIC + 0x320], VEC | LVT_PER   ; count 0, initial count T
        mov eax, 3 * T
        call delay_tsc
        cmp dword [LAPIC + 0x390], 0
        FAILIF ne, "lapic-mode-zero-stays-ccr"
        cmp esi, [ebx]
        FAILIF ne, "lapic-mode-zero-stays-irq"
        PASS "lapic-mode-zero-stays"
        ret

t_tscdl_stops:
        mov dword [LAPIC + 0x320], VEC          ; one-shot, running
        mov dword [LAPIC + 0x380], T
        mov ebx, vec_count + VEC * 4
        mov esi, [ebx]
        mov dword [LAPIC + 0x320], VEC | LVT_TSCDL
        cmp dword [LAPIC + 0x390], 0
        FAILIF ne, "lapic-mode-tscdl-ccr"
        mov eax, 3 * T
        call delay_tsc
        cmp esi, [ebx]
        FAILIF ne, "lapic-mode-tscdl-irq"
        mov ecx, 0x6E0
        rdmsr
        or eax, edx
        FAILIF nz, "lapic-mode-tscdl-msr"
        mov dword [LAPIC + 0x320], 0x10000 | VEC
        PASS "lapic-mode-tscdl-stops"
        ret

; The deadline is now: the interrupt comes right after the WRMSR, before the CLI.  Twenty
; rounds, so that the code runs from the software CPU's cache of translated blocks too.
t_tscdl_past:
        mov dword [LAPIC + 0x320], VEC_DL | LVT_TSCDL
        mov ebx, vec_count + VEC_DL * 4
        mov edi, 20
.round:
        mov esi, [ebx]
        mov ecx, 0x6E0
        sti
        rdtsc
        wrmsr
        nop
        cli
        mov eax, [ebx]
        sti
        sub eax, esi
        cmp eax, 1
        FAILIF ne, "lapic-tscdl-past"
        dec edi
        jnz .round
        mov dword [LAPIC + 0x320], 0x10000
        PASS "lapic-tscdl-past"
        ret

; eax = 0 if "nomove" is on the command line.
want_move:
        mov ebx, [mb_info]
        mov eax, 1
        test dword [ebx], 4
        jz .out
        mov esi, [ebx + 16]
.scan:
        cmp byte [esi], 0
        je .out
        cmp dword [esi], 'nomo'
        jne .next
        cmp word [esi + 4], 've'
        jne .next
        xor eax, eax
        jmp .out
.next:
        inc esi
        jmp .scan
.out:
        ret

t_move:
        cli
        mov esi, [LAPIC + 0x30]                 ; version, at the default page
        mov ecx, 0x1B
        rdmsr
        mov [apicbase], eax
        and eax, 0xFFF
        or eax, ALT_BASE
        wrmsr
        cmp [ALT_BASE + 0x30], esi
        FAILIF ne, "lapic-move-new-page"
        cmp dword [LAPIC + 0x30], 0xFFFFFFFF
        FAILIF ne, "lapic-move-old-page"
        mov dword [ALT_BASE + 0x80], 0x30       ; TPR through the new page
        mov ecx, 0x1B
        mov eax, [apicbase]
        xor edx, edx
        wrmsr
        cmp [LAPIC + 0x30], esi
        FAILIF ne, "lapic-move-back"
        cmp dword [LAPIC + 0x80], 0x30          ; the same registers
        FAILIF ne, "lapic-move-same-apic"
        mov dword [LAPIC + 0x80], 0
        sti
        PASS "lapic-move"
        ret

align 4
tries       dd 0
apicbase    dd 0

PLAT_END
