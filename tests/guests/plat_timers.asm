; plat_timers: the PIT (channel 0 in modes 0, 2 and 3 through IOAPIC pin 2; channel 2 and
; OUT2 through port 0x61 against the TSC and the ACPI PM timer), the HPET (periodic and one-shot
; comparators), and the RTC (periodic, alarm and update-ended interrupts).
%include "plat_common.inc"

rtc_c       equ scratch                         ; last register C seen by the hook
rtc_irqs    equ scratch + 4

main:
        call lapic_enable
        mov dword [eoi_mode], EOI_LAPIC
        mov dword [irq_hook], rtc_hook
        mov ecx, 2
        mov eax, 0x50
        xor edx, edx
        call ioapic_set
        call t_pit_mode0
        call t_pit_periodic
        call t_pit_ch2
%ifndef QEMU
        call t_pm_tsc
%endif
        call t_hpet
        call t_rtc
        ret

; PIT channel 0 mode 0: one interrupt at terminal count.
t_pit_mode0:
        mov al, 0x30
        out 0x43, al
        mov al, 11932 & 0xFF                    ; 10 ms
        out 0x40, al
        mov al, 11932 >> 8
        out 0x40, al
        mov ebx, vec_count + 0x50 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "pit-mode0"
        mov eax, 60000000                       ; 30 ms: no second one
        call delay_tsc
        cmp dword [vec_count + 0x50 * 4], 1
        FAILIF ne, "pit-mode0-once"
        PASS "pit-mode0"
        ret

; Modes 2 and 3: periodic.
t_pit_periodic:
        mov al, 0x34
        call .run
        FAILIF z, "pit-mode2"
        PASS "pit-mode2"
        mov al, 0x36
        call .run
        FAILIF z, "pit-mode3"
        PASS "pit-mode3"
        ret
.run:
        out 0x43, al
        mov al, 1193 & 0xFF
        out 0x40, al
        mov al, 1193 >> 8
        out 0x40, al
        mov ecx, [vec_count + 0x50 * 4]
        add ecx, 5
        mov ebx, vec_count + 0x50 * 4
        mov edi, 1
        call wait_ge
        push eax
        mov al, 0x30                            ; stop
        out 0x43, al
        pop eax
        test eax, eax
        ret

; Channel 2 in mode 0, gated from port 0x61: OUT2 rises after exactly N ticks of the
; 1.193182 MHz clock; the TSC and the PM timer measured across must agree with that.
t_pit_ch2:
        cli
        in al, 0x61
        and al, 0xFC                            ; gate off, speaker off
        out 0x61, al
        mov al, 0xB0                            ; channel 2, LSB/MSB, mode 0
        out 0x43, al
        mov al, 11932 & 0xFF                    ; 10 ms
        out 0x42, al
        mov al, 11932 >> 8
        out 0x42, al
        mov dx, PM_TMR
        in eax, dx
        mov [scratch + 16], eax
        rdtsc
        mov [scratch + 20], eax
        mov [scratch + 24], edx
        in al, 0x61
        or al, 1                                ; gate on: counting starts
        out 0x61, al
        mov ecx, 0
.poll:
        in al, 0x61
        test al, 0x20
        jnz .high
        dec ecx
        jnz .poll
        FAILIF z, "pit-ch2-out2"
        ret
.high:
        rdtsc
        sub eax, [scratch + 20]
        sbb edx, [scratch + 24]
        mov esi, eax
        mov dx, PM_TMR
        in eax, dx
        sub eax, [scratch + 16]
        and eax, 0xFFFFFF
        cmp eax, 35795 - 2                      ; 10 ms of 3.579545 MHz, never less
        FAILIF b, "pit-ch2-pmtimer"
%ifndef QEMU
        cmp esi, 20000000 - 4                   ; 10 ms of the 2 GHz TSC, never less
        FAILIF b, "pit-ch2-tsc"
%endif
        in al, 0x61
        and al, 0xFC
        out 0x61, al
        PASS "pit-ch2"
        ret

; The PM timer against the TSC over 100 ms: 3.579545 MHz vs the 2 GHz TSC, within 1 % (three
; tries, in case the host preempts bhyve between the two reads).
t_pm_tsc:
        mov ebp, 3
.try:
        cli
        mov dx, PM_TMR
        in eax, dx
        mov [scratch + 32], eax
        rdtsc
        mov [scratch + 36], eax
        mov eax, 200000000
        call delay_tsc
        mov dx, PM_TMR
        in eax, dx
        mov ecx, eax
        rdtsc
        sub eax, [scratch + 36]                 ; TSC ticks (< 2^32)
        sub ecx, [scratch + 32]
        and ecx, 0xFFFFFF                       ; PM ticks
        mov ebx, 3579545
        mul ebx
        mov ebx, 2000000000
        div ebx                                 ; expected PM ticks
        sub eax, ecx
        jns .abs
        neg eax
.abs:
        cmp eax, 3580
        jbe .ok
        dec ebp
        jnz .try
        FAILIF z, "pmtimer-tsc"                 ; three tries out of bounds (ZF from dec)
        ret
.ok:
        PASS "pmtimer-tsc"
        ret

; HPET: timer 0 periodic (1 ms) on pin 20, timer 1 one-shot on pin 21, 32-bit mode as Linux.
t_hpet:
        mov ecx, 20
        mov eax, 0x52
        xor edx, edx
        call ioapic_set
        mov ecx, 21
        mov eax, 0x53
        xor edx, edx
        call ioapic_set
        mov eax, [HPET + 4]                     ; counter period in fs
        mov [scratch + 28], eax
        mov dword [HPET + 0x10], 1              ; enable
        mov dword [HPET + 0x100], (20 << 9) | 0x14C   ; 32-bit, periodic, VAL_SET, enabled
        mov eax, 0xD4A51000                     ; 1 ms = 10^12 fs; / period = counts per ms
        mov edx, 0xE8
        div dword [scratch + 28]
        mov ebx, eax
        mov eax, [HPET + 0xF0]
        add eax, ebx
        mov [HPET + 0x108], eax                 ; first expiry
        mov [HPET + 0x108], ebx                 ; period
        mov ebx, vec_count + 0x52 * 4
        mov ecx, 5
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "hpet-periodic"
        mov dword [HPET + 0x100], 20 << 9       ; off
        PASS "hpet-periodic"
        mov dword [HPET + 0x120], (21 << 9) | 0x104   ; 32-bit one-shot
        mov eax, [HPET + 0xF0]
        add eax, 20000                          ; 2 ms at 10 MHz
        mov [HPET + 0x128], eax
        mov ebx, vec_count + 0x53 * 4
        mov ecx, 1
        mov edi, 1
        call wait_ge
        test eax, eax
        FAILIF z, "hpet-oneshot"
        mov eax, 40000000
        call delay_tsc
        cmp dword [vec_count + 0x53 * 4], 1
        FAILIF ne, "hpet-oneshot-once"
        mov dword [HPET + 0x120], 21 << 9
        PASS "hpet-oneshot"
        ret

rtc_hook:
        cmp eax, 0x54
        jne .out
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        or [rtc_c], al
        inc dword [rtc_irqs]
.out:
        ret

; rtc_wait: B value in al, wanted C bits in ah, timeout multiplier in edi.  ZF set on timeout.
rtc_wait:
        mov byte [rtc_c], 0
        push eax
        mov al, 0x0B
        out 0x70, al
        pop eax
        out 0x71, al
        mov bl, ah
.again:
        push ebx
        mov ebx, rtc_irqs
        mov ecx, [rtc_irqs]
        inc ecx
        call wait_ge
        pop ebx
        test eax, eax
        jz .out
        test [rtc_c], bl
        jz .again
        or eax, 1
.out:
        ret

t_rtc:
        mov ecx, 8
        mov eax, 0x54
        xor edx, edx
        call ioapic_set
        mov al, 0x0A
        out 0x70, al
        mov al, 0x26                            ; 1024 Hz
        out 0x71, al
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        mov al, 0x46                            ; PIE, binary, 24-hour
        mov ah, 0x40
        mov edi, 1
        call rtc_wait
        FAILIF z, "rtc-periodic"
        PASS "rtc-periodic"
        mov al, 0x0B
        out 0x70, al
        mov al, 0x06
        out 0x71, al
        ; Alarm two seconds ahead (binary mode); minutes and hours "don't care".
        mov al, 0x00
        out 0x70, al
        in al, 0x71
        add al, 2
        cmp al, 60
        jb .s
        sub al, 60
.s:
        mov ah, al
        mov al, 0x01
        out 0x70, al
        mov al, ah
        out 0x71, al
        mov al, 0x03
        out 0x70, al
        mov al, 0xFF
        out 0x71, al
        mov al, 0x05
        out 0x70, al
        mov al, 0xFF
        out 0x71, al
        mov al, 0x26                            ; AIE
        mov ah, 0x20
        mov edi, 3
        call rtc_wait
        FAILIF z, "rtc-alarm"
        PASS "rtc-alarm"
        mov al, 0x16                            ; UIE
        mov ah, 0x10
        mov edi, 2
        call rtc_wait
        FAILIF z, "rtc-update"
        PASS "rtc-update"
        mov al, 0x0B
        out 0x70, al
        mov al, 0x02
        out 0x71, al
        ret

PLAT_END
