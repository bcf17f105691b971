; cpusys_dbg: long mode.  RFLAGS.RF in exception frames and its clearing after one
; instruction; single-step around SYSCALL and SYSRET; #DB traps held by MOV SS / POP SS;
; CPUID.1:EDX.APIC following IA32_APIC_BASE.EN; NMIs and interrupts raised by the current
; instruction recognised at the very next instruction boundary, and an NMI latched while an
; NMI handler runs delivered right after its IRETQ.
%include "cpusys.inc"

main32:
        GO_LONG long_main

bits 64
%include "cpusys64.inc"

RFLAGS_RF   equ 0x10000
LAPIC       equ 0xFEE00000

long_main:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov rsp, KSTACK_TOP
        call idt_init64
        call tss_init64
        call syscall_init
        SAY64 {"cpusys: long mode", 10}
        call t_rf
        call t_sys_step
        call t_movss
        call t_cpuid_apic
        call t_events
        SAY64 "cpusys: done failures="
        mov eax, [rel failures]
        PUTHEX64 rax, 8
        SAY64 {10}
        mov dx, PM1A_CNT
        mov ax, SLP_S5
        out dx, ax
.h:     hlt
        jmp .h

; ---------------------------------------------------------------- RFLAGS.RF

t_rf:
        ; faults push RF=1
        TRY
.ud:    ud2
        CATCH "rf-fault-ud", 6, -1, .ud
        test qword [rel got_frame + 16], RFLAGS_RF
        CHECK64 nz, "rf-set-in-ud-frame"

        TRY
        mov rbx, 0x8000000000000000
.gp:    mov al, [rbx]
        CATCH "rf-fault-gp", 13, 0, .gp
        test qword [rel got_frame + 16], RFLAGS_RF
        CHECK64 nz, "rf-set-in-gp-frame"

        TRY
        mov rbx, 0x40000000                      ; above the 1 GiB identity map
.pf:    mov al, [rbx]
        CATCH "rf-fault-pf", 14, 0, .pf
        test qword [rel got_frame + 16], RFLAGS_RF
        CHECK64 nz, "rf-set-in-pf-frame"

        ; traps do not
        TRY
        int3
.bp:
        CATCH "rf-trap-bp", 3, -1, .bp
        test qword [rel got_frame + 16], RFLAGS_RF
        CHECK64 z, "rf-clear-in-bp-frame"

        TRY
        pushfq
        or qword [rsp], 0x100
        popfq
        nop
.ss:
        CATCH "rf-trap-single-step", 1, -1, .ss
        test qword [rel got_frame + 16], RFLAGS_RF
        CHECK64 z, "rf-clear-in-single-step-frame"

        ; nor does an instruction-breakpoint #DB
        lea rax, [rel .ib]
        mov dr0, rax
        mov eax, 1
        mov dr7, rax
        TRY
        nop
.ib:    nop
        CATCH "rf-instruction-breakpoint", 1, -1, .ib
        xor eax, eax
        mov dr7, rax
        test qword [rel got_frame + 16], RFLAGS_RF
        CHECK64 z, "rf-clear-in-breakpoint-frame"

        ; RF loaded by IRETQ lasts for one instruction, breakpoints armed or not
        TRY
        mov rax, rsp
        push KDATA
        push rax
        push RFLAGS_RF | 2
        push KCODE64
        lea rax, [rel .t]
        push rax
        iretq
.t:     nop
        int3
.t2:
        CATCH "rf-iretq-then-int3", 3, -1, .t2
        test qword [rel got_frame + 16], RFLAGS_RF
        CHECK64 z, "rf-cleared-after-one-instruction"

        ; a fault handler returns with the frame's RF=1: an instruction breakpoint on the
        ; faulting instruction does not fire again when it is restarted
        lea rax, [rel .rb]
        mov dr0, rax
        mov eax, 1
        mov dr7, rax
        lea rax, [rel rf_hook]
        mov [rel int_hook], rax
        mov dword [rel hook_n], 0
        mov dword [rel hook_db], 0
        mov qword [rel fault_ptr], 0x40000000   ; unmapped: #PF; the hook fixes the pointer
        TRY
        mov rbx, [rel fault_ptr]
.rb:    mov al, [rbx]
        TRY_END
        mov qword [rel int_hook], 0
        xor eax, eax
        mov dr7, rax
        cmp dword [rel hook_db], 1               ; the #DB before the first attempt only
        CHECK64 e, "rf-restart-one-breakpoint"
        cmp dword [rel hook_n], 2                ; #DB, #PF, then the restart ran
        CHECK64 e, "rf-restart-after-fault"
        ret

; #DB at .rb: resume with RF (as a debugger does); #PF: point rbx at mapped memory and resume
; (the frame's RF=1 keeps the breakpoint quiet).
rf_hook:
        inc dword [rel hook_n]
        cmp qword [rel got_vec], 1
        jne .pf
        inc dword [rel hook_db]
        or qword [rsp + 8 + 16], RFLAGS_RF
        mov eax, 1
        ret
.pf:
        cmp qword [rel got_vec], 14
        jne .no
        lea rbx, [rel fault_ptr]
        mov eax, 1
        ret
.no:
        xor eax, eax
        ret

; ---------------------------------------------------------------- SYSCALL / SYSRET and TF

t_sys_step:
        ; ring 3 with TF=1 from IRETQ: the first instruction, SYSCALL, starts with TF=1 but
        ; SFMASK clears TF: no single-step trap in ring 0
        lea rax, [rel sys_plain]
        mov [rel sys_hook], rax
        mov qword [rel sys_count], 0
        mov qword [rel got_vec], -1
        USER_GO user_syscall, UCODE64 | 3, 0x302
        cmp qword [rel sys_count], 1
        CHECK64 e, "syscall-tf-reached-kernel"
        cmp qword [rel got_vec], -1
        CHECK64 e, "syscall-tf-masked-no-trap"

        ; SYSRET loading TF=1 from R11: the #DB arrives right after it, in ring 3, before
        ; the first user instruction
        mov qword [rel got_vec], -1
        mov [rel saved_rsp], rsp
        lea rax, [rel .back]
        mov [rel resume_rip], rax
        and rsp, ~15
        mov [rel exp_rsp], rsp
        mov qword [rel frame_top], RSP0_TOP
        mov byte [rel iret_back], 0
        lea rcx, [rel user_tf]
        mov r11, 0x302
        mov rsp, USTACK_TOP
        o64 sysret
.back:
        mov rsp, [rel saved_rsp]
        cmp qword [rel got_vec], 1
        CHECK64 e, "sysret-tf-traps"
        lea rax, [rel user_tf]
        cmp [rel got_frame], rax
        CHECK64 e, "sysret-tf-trap-before-user-insn"
        cmp qword [rel got_frame + 8], UCODE64 | 3
        CHECK64 e, "sysret-tf-trap-in-ring3"
        test qword [rel got_dr6], 0x4000
        CHECK64 nz, "sysret-tf-dr6-bs"
        ret

sys_plain:
        inc qword [rel sys_count]
        jmp [rel resume_rip]

user_syscall:
        syscall
        jmp user_syscall

user_tf:
        nop
        nop
        xor eax, eax
        syscall

; ---------------------------------------------------------------- MOV SS / POP SS

t_movss:
        lea rax, [rel db_count_hook]
        mov [rel int_hook], rax

        ; single-step: the trap of MOV SS waits for the next instruction, one #DB
        mov dword [rel db_n], 0
        TRY
        mov ax, ss
        pushfq
        or qword [rsp], 0x100
        popfq
        mov ss, ax
        nop
.a:
        CATCH "movss-single-step-held", 1, -1, .a
        cmp dword [rel db_n], 1
        CHECK64 e, "movss-single-step-one-db"
        test qword [rel got_dr6], 0x4000
        CHECK64 nz, "movss-single-step-dr6-bs"

        ; POP SS (from compatibility mode: no POP SS in 64-bit mode) is covered by the same
        ; rule; here a data breakpoint on MOV SS's operand and one on the next instruction's
        ; write give one #DB with both bits after that instruction
        mov ax, ss
        mov [rel ss_val], ax
        xor eax, eax
        mov dr6, rax
        lea rax, [rel ss_val]
        mov dr0, rax
        lea rax, [rel wvar]
        mov dr1, rax
        mov eax, 0x5 | (3 << 16) | (1 << 18) | (1 << 20) | (3 << 22)   ; L0 rw 2 bytes, L1 w 4
        mov dr7, rax
        mov dword [rel db_n], 0
        TRY
        mov ss, [rel ss_val]
        mov dword [rel wvar], 1
.d:
        CATCH "movss-data-breakpoints-held", 1, -1, .d
        xor eax, eax
        mov dr7, rax
        cmp dword [rel db_n], 1
        CHECK64 e, "movss-data-one-db"
        mov rax, [rel got_dr6]
        and eax, 3
        cmp eax, 3
        CHECK64 e, "movss-data-dr6-b0-b1"

        ; General detect is a fault on the MOV DR itself, not held
        mov rax, 0x2400
        mov dr7, rax                             ; GD
        mov dword [rel db_n], 0
        TRY
        mov ax, ss
        mov ss, ax
.g:     mov rax, dr0
        CATCH "movss-general-detect-not-held", 1, -1, .g
        test qword [rel got_dr6], 0x2000
        CHECK64 nz, "general-detect-dr6-bd"
        test qword [rel got_frame + 16], RFLAGS_RF
        CHECK64 nz, "general-detect-rf-in-frame"
        mov rax, dr7
        test eax, 0x2000
        CHECK64 z, "general-detect-clears-gd"
        xor eax, eax
        mov dr7, rax
        mov qword [rel int_hook], 0
        ret

db_count_hook:
        cmp qword [rel got_vec], 1
        jne .r
        inc dword [rel db_n]
.r:     xor eax, eax
        ret

; ---------------------------------------------------------------- CPUID.1:EDX.APIC

t_cpuid_apic:
        mov eax, 1
        cpuid
        test edx, 1 << 9
        CHECK64 nz, "cpuid-apic-set-when-enabled"
        mov ecx, 0x1B
        rdmsr
        mov [rel apic_base_save], eax
        mov [rel apic_base_save + 4], edx
        and eax, ~0x800
        wrmsr
        mov eax, 1
        cpuid
        test edx, 1 << 9
        CHECK64 z, "cpuid-apic-clear-when-disabled"
        mov ecx, 0x1B
        mov eax, [rel apic_base_save]
        mov edx, [rel apic_base_save + 4]
        wrmsr
        mov eax, 1
        cpuid
        test edx, 1 << 9
        CHECK64 nz, "cpuid-apic-set-again"
        ret

; ---------------------------------------------------------------- events at boundaries

t_events:
        mov rax, PD_HI | 3                       ; map 3-4 GiB, uncached
        mov [PDPT0 + 24], rax
        xor ecx, ecx
.pd:
        mov rax, rcx
        shl rax, 21
        mov rdx, 0xC0000000
        add rax, rdx
        or rax, 0x9B
        mov [PD_HI + rcx * 8], rax
        inc ecx
        cmp ecx, 512
        jb .pd
        mov rax, cr3
        mov cr3, rax
        mov ebx, LAPIC
        mov dword [rbx + 0xF0], 0x1FF            ; software enable
        mov dword [rbx + 0x310], 0

        ; two self-NMIs in a row: each is taken before the next instruction
        lea rax, [rel ev_hook]
        mov [rel int_hook], rax
        mov dword [rel ev_n], 0
        mov dword [rel ev_resend], 0
        TRY
        mov qword [rel iret_rip], 0
        mov dword [rbx + 0x300], 0x4400          ; NMI to ourselves
.n1:    mov dword [rbx + 0x300], 0x4400
.n2:    mov ecx, [rel ev_n]
        mov [rel ev_seen], ecx
        TRY_END
        cmp dword [rel ev_seen], 2
        CHECK64 e, "nmi-two-in-a-row-both-taken"
        lea rax, [rel .n1]
        cmp [rel ev_rip], rax
        CHECK64 e, "nmi-taken-at-next-boundary"
        lea rax, [rel .n2]
        cmp [rel ev_rip + 8], rax
        CHECK64 e, "nmi-second-at-next-boundary"

        ; the first NMI's handler sends two more: one is latched and comes right after
        ; IRETQ, before the interrupted instruction; the other is lost
        mov dword [rel ev_n], 0
        mov dword [rel ev_resend], 1
        TRY
        mov qword [rel iret_rip], 0
        mov dword [rbx + 0x300], 0x4400
.l1:    mov ecx, [rel ev_n]
        mov [rel ev_seen], ecx
        mov ecx, 20000
.w:     pause
        loop .w
        TRY_END
        cmp dword [rel ev_seen], 2
        CHECK64 e, "nmi-latched-delivered-after-iretq"
        cmp dword [rel ev_n], 2
        CHECK64 e, "nmi-only-one-latched"
        lea rax, [rel .l1]
        cmp [rel ev_rip + 8], rax
        CHECK64 e, "nmi-latched-before-next-insn"

        ; a fixed self-IPI with IF=1 is taken before the next instruction
        mov dword [rel ev_n], 0
        mov dword [rel ev_resend], 0
        TRY
        mov qword [rel iret_rip], 0
        sti
        nop
        mov dword [rbx + 0x300], 0x40046         ; self, fixed, vector 0x46
.i1:    mov ecx, [rel ev_n]
        cli
        mov [rel ev_seen], ecx
        TRY_END
        cmp dword [rel ev_seen], 1
        CHECK64 e, "intr-self-ipi-taken-at-next-boundary"
        lea rax, [rel .i1]
        cmp [rel ev_rip], rax
        CHECK64 e, "intr-self-ipi-rip"
        mov qword [rel int_hook], 0
        ret

; NMIs and vector 0x46: count them and record the interrupted RIP; the first NMI sends two
; more when ev_resend is set.
ev_hook:
        mov rax, [rel got_vec]
        cmp rax, 2
        je .ok
        cmp rax, 0x46
        jne .no
        mov dword [rbx + 0xB0], 0                ; EOI (rbx = LAPIC in the tests)
.ok:
        mov eax, [rel ev_n]
        cmp eax, 4
        jae .cnt
        mov rcx, [rel got_frame]
        lea rdx, [rel ev_rip]
        mov [rdx + rax * 8], rcx
.cnt:
        inc dword [rel ev_n]
        cmp dword [rel ev_resend], 0
        je .ret
        cmp dword [rel ev_n], 1
        jne .ret
        mov dword [rbx + 0x300], 0x4400
        mov dword [rbx + 0x300], 0x4400
        push rcx
        mov ecx, 20000
.w:     pause
        loop .w
        pop rcx
.ret:
        mov eax, 1                               ; IRETQ to the interrupted code
        ret
.no:
        xor eax, eax
        ret

align 8
fault_ptr   dq 0
hook_n      dd 0
hook_db     dd 0
db_n        dd 0
wvar        dd 0
ss_val      dw 0
align 8
apic_base_save dq 0
ev_rip      times 4 dq 0
ev_n        dd 0
ev_seen     dd 0
ev_resend   dd 0
sys_count   dq 0
user_ok     dd 0

align 16
image_end:
