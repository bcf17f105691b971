; cpusys_long: long mode.  Every exception vector with its error code and saved RIP (faults
; point at the instruction, traps after it; INT n never pushes an error code); SYSCALL/SYSRET
; to 64-bit and compatibility mode; IRETQ into ring 3 and INT from ring 3 through the TSS's RSP0
; and IST1; page faults for every combination of P, R/W, U/S, NX and reserved bits at every
; level of 4-level paging, for reads, writes and fetches from ring 0 and ring 3 with CR0.WP off
; and on (one line "pf <case> <vector> <error> <cr2 ok>" each, checked by the test).
%include "cpusys.inc"

main32:
        GO_LONG long_main

bits 64
%include "cpusys64.inc"

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
        call t_exceptions
        call t_int_n
        call t_syscall
        call t_sysenter
        call t_rings
        call t_pf_matrix
        call t_pf_special
        call t_lapic
        call t_debug
        SAY64 "cpusys: done failures="
        mov eax, [rel failures]
        PUTHEX64 rax, 8
        SAY64 {10}
        mov dx, PM1A_CNT
        mov ax, SLP_S5
        out dx, ax
.h:     hlt
        jmp .h

; ---------------------------------------------------------------- exceptions in ring 0

t_exceptions:
        TRY
        xor ecx, ecx
.de:    div ecx
        CATCH "exc-de", 0, -1, .de

        TRY
        pushfq
        or qword [rsp], 0x100
        popfq
.db0:   nop
.db1:   nop
        CATCH "exc-db-single-step", 1, -1, .db1
        mov rax, [rel got_dr6]
        test eax, 0x4000
        CHECK64 nz, "exc-db-dr6-bs"

        TRY
.i1:    db 0xF1                                  ; INT1 (ICEBP): a trap
.i1e:
        CATCH "exc-db-int1", 1, -1, .i1e

        TRY
.bp:    int3
.bpe:
        CATCH "exc-bp", 3, -1, .bpe

        TRY
.of:    db 0xCE                                  ; INTO is invalid in 64-bit mode
        CATCH "exc-into-64-ud", 6, -1, .of

        TRY
.ud:    ud2
        CATCH "exc-ud", 6, -1, .ud

        mov rax, cr0
        or eax, 8                                ; TS
        mov cr0, rax
        TRY
.nm:    fldz
        CATCH "exc-nm", 7, -1, .nm
        clts

        ; #TS: an IST pointer outside the TSS limit (TR = a TSS with limit 0x23)
        mov rbx, TSS_B
        mov ecx, 0x23
        lea rdi, [rel gdt + TSSSMALL]
        call put_tss_desc
        mov ax, TSSSMALL
        ltr ax
        mov ecx, 0x90
        xor edx, edx
        mov dh, 1                                ; IST1
        call set_gate
        TRY
.ts:    int 0x90
        CATCH "exc-ts", 10, TSSSMALL, .ts
        lea rdi, [rel gdt + TSS64]               ; back to the real TSS (clear its busy bit)
        mov byte [rdi + 5], 0x89
        mov ax, TSS64
        ltr ax
        mov ecx, 0x90
        xor edx, edx
        call set_gate

        TRY
        mov ax, NPDATA
.np:    mov ds, ax
        CATCH "exc-np", 11, NPDATA, .np

        TRY
        mov ax, NPDATA
.ss1:   mov ss, ax
        CATCH "exc-ss-not-present", 12, NPDATA, .ss1
        mov ax, KDATA
        mov ss, ax

        TRY
        mov rbp, 0x8000000000000000
.ss2:   mov al, [rbp]
        CATCH "exc-ss-noncanonical", 12, 0, .ss2

        TRY
        mov rbx, 0x8000000000000000
.gp1:   mov al, [rbx]
        CATCH "exc-gp-noncanonical", 13, 0, .gp1

        TRY
        mov ax, 0xFFF8
.gp2:   mov ds, ax
        CATCH "exc-gp-selector", 13, 0xFFF8, .gp2
        mov ax, KDATA
        mov ds, ax

        TRY
        mov rax, cr4
        or rax, 1 << 22                          ; a reserved CR4 bit
.gp3:   mov cr4, rax
        CATCH "exc-gp-cr4", 13, 0, .gp3

        TRY
        mov rbx, 0x7FFF00000000                  ; not mapped
.pf:    mov al, [rbx]
        CATCH "exc-pf", 14, 0, .pf
        mov rax, [rel got_cr2]
        mov rbx, 0x7FFF00000000
        cmp rax, rbx
        CHECK64 e, "exc-pf-cr2"

        ; #MF: an unmasked x87 zero divide is reported by the next waiting x87 instruction
        fninit
        mov word [rel fcw], 0x037B               ; ZM clear
        fldcw [rel fcw]
        fld1
        fldz
        fdivp st1, st0
        TRY
.mf:    fwait
        CATCH "exc-mf", 16, -1, .mf
        fninit

        ; #AC: CR0.AM, RFLAGS.AC and a misaligned access in ring 3
        mov rax, cr0
        or eax, 1 << 18
        mov cr0, rax
        mov qword [rel got_vec], -1
        USER_GO user_ac, UCODE64 | 3, 0x40202   ; AC, IF
        lea rdi, [rel .acn]
        mov esi, 17
        xor edx, edx
        lea rcx, [rel user_ac.acc]
        call check_exc
        mov rax, cr0
        and eax, ~(1 << 18)
        mov cr0, rax

        ; #XM: an unmasked SSE zero divide with CR4.OSXMMEXCPT
        mov dword [rel mxcsr], 0x1D80            ; ZM clear
        ldmxcsr [rel mxcsr]
        xorps xmm1, xmm1
        mov eax, 1
        cvtsi2ss xmm0, eax
        TRY
.xm:    divss xmm0, xmm1
        CATCH "exc-xm", 19, -1, .xm
        mov dword [rel mxcsr], 0x1F80
        ldmxcsr [rel mxcsr]
        ret
.acn:   db "exc-ac", 0

user_ac:
        mov rbx, USTACK_TOP - 64
.acc:   mov eax, [rbx + 1]
        xor eax, eax
        syscall

; ---------------------------------------------------------------- INT n: no error codes

%macro INT_CASE 1
        TRY
        int %1
%%after:
        CATCH "int-n", %1, -1, %%after
%endmacro

t_int_n:
%assign v 0
%rep 32
        INT_CASE v
%assign v v + 1
%endrep
        INT_CASE 0x80
        INT_CASE 0xFF
        ret

; ---------------------------------------------------------------- SYSCALL / SYSRET

t_syscall:
        ; ring 3 (64-bit) -> SYSCALL -> ring 0 -> SYSRETQ -> ring 3 -> SYSCALL(rax=0) -> here
        lea rax, [rel sys_hook1]
        mov [rel sys_hook], rax
        mov qword [rel sys_count], 0
        USER_GO user_sys, UCODE64 | 3, 0x602     ; IF, DF
        cmp qword [rel sys_count], 1
        CHECK64 e, "syscall-hook-ran"
        cmp dword [rel user_ok], 0x5A5A
        CHECK64 e, "sysretq-to-ring3"

        ; compatibility mode: ring 3 32-bit code, SYSCALL through CSTAR, SYSRETL back
        lea rax, [rel sys_hook2]
        mov [rel sys_hook], rax
        mov dword [rel user_ok], 0
        USER_GO user_compat, UCODE32 | 3, 0x202
        cmp dword [rel user_ok], 0x1B1B
        CHECK64 e, "sysretl-to-compat"

        ; SYSRET with a non-canonical RCX faults in ring 0 (#GP(0)), changing nothing
        TRY
        mov rcx, 0x8000000000000000
        mov r11, 0x202
.sr:    o64 sysret
        CATCH "sysret-noncanonical-gp", 13, 0, .sr
        mov ax, cs
        cmp ax, KCODE64
        CHECK64 e, "sysret-gp-stays-ring0"

        ; SYSCALL with EFER.SCE clear: #UD
        mov ecx, 0xC0000080
        rdmsr
        and eax, ~1
        wrmsr
        TRY
.sc:    syscall
        CATCH "syscall-sce-clear-ud", 6, -1, .sc
        mov ecx, 0xC0000080
        rdmsr
        or eax, 1
        wrmsr
        ret

; first SYSCALL from user_sys (rax = 1)
sys_hook1:
        inc qword [rel sys_count]
        lea rax, [rel user_sys.after]
        cmp [rel sys_rcx], rax
        CHECK64 e, "syscall-rcx"
        mov rax, [rel sys_r11]
        and eax, 0xFFF
        cmp eax, 0x6C7                           ; DF IF + the flags user_sys set (CF PF ZF SF)
        CHECK64 e, "syscall-r11"
        mov rax, [rel sys_rflags]
        test eax, 0x600
        CHECK64 z, "syscall-sfmask"
        cmp word [rel sys_cs], KCODE64
        CHECK64 e, "syscall-cs"
        cmp word [rel sys_ss], KDATA
        CHECK64 e, "syscall-ss"
        cmp qword [rel sys_rsp], USTACK_TOP
        CHECK64 e, "syscall-rsp-unchanged"
        mov rcx, [rel sys_rcx]
        mov r11, 0x246                           ; ZF PF IF
        mov rsp, [rel sys_rsp]
        o64 sysret

; compatibility-mode SYSCALL (via CSTAR)
sys_hook2:
        lea rax, [rel user_compat.after]
        cmp [rel sys_rcx], rax
        CHECK64 e, "syscall-compat-rcx"
        cmp word [rel sys_cs], KCODE64
        CHECK64 e, "syscall-compat-cs"
        mov rcx, [rel sys_rcx]
        add rcx, user_compat.ret2 - user_compat.after
        mov r11, 0x202
        mov rsp, [rel sys_rsp]
        sysret                                   ; 32-bit: CS = STAR[63:48] | 3

user_sys:
        push qword 0x4C7                         ; DF SF ZF PF CF (IF stays: CPL > IOPL)
        popfq
        mov eax, 1
        syscall
.after:
        ; back in ring 3 through SYSRETQ: CS, SS, RFLAGS from R11, RSP kept
        mov ax, cs
        cmp ax, UCODE64 | 3
        jne .bad
        mov ax, ss
        cmp ax, UDATA | 3
        jne .bad
        pushfq
        pop rax
        and eax, 0xFFF
        cmp eax, 0x246
        jne .bad
        cmp rsp, USTACK_TOP
        jne .bad
        mov dword [rel user_ok], 0x5A5A
.bad:
        xor eax, eax
        syscall

bits 32
user_compat:
        mov ax, UDATA | 3                         ; IRETQ to ring 3 nulled DS and ES
        mov ds, ax
        mov es, ax
        mov eax, 2
        syscall
.after:
        jmp .after                               ; skipped: the kernel returns to .ret2
.ret2:
        mov ax, cs
        cmp ax, UCODE32 | 3
        jne .bad
        mov dword [user_ok], 0x1B1B
.bad:
        xor eax, eax
        syscall
bits 64

;---------------------------------------------------------------- SYSENTER / SYSEXIT

SE_STACK    equ USTACK_TOP - 0x800

t_sysenter:
        mov ecx, 0x174                           ; SYSENTER_CS
        mov eax, KCODE64
        xor edx, edx
        wrmsr
        mov ecx, 0x175                           ; SYSENTER_ESP
        mov eax, RSP0_TOP - 0x100
        wrmsr
        mov ecx, 0x176                           ; SYSENTER_EIP
        lea rax, [rel sysenter_entry]
        mov rdx, rax
        shr rdx, 32
        wrmsr
        mov dword [rel user_ok], 0
        USER_DO user_se
        cmp dword [rel se_kernel_ok], 3
        CHECK64 e, "sysenter-ring0-state"
        cmp dword [rel user_ok], 0x5E5E
        CHECK64 e, "sysexit-to-ring3"
        ret

sysenter_entry:
        mov [rel sys_rsp], rsp
        mov ax, cs
        cmp ax, KCODE64
        jne .bad
        inc dword [rel se_kernel_ok]
        mov ax, ss
        cmp ax, KDATA
        jne .bad
        inc dword [rel se_kernel_ok]
        pushfq
        pop rax
        test eax, 0x200                          ; IF cleared
        jnz .bad
        cmp qword [rel sys_rsp], RSP0_TOP - 0x100
        jne .bad
        inc dword [rel se_kernel_ok]
.bad:
        lea rdx, [rel user_se.back]
        mov rcx, SE_STACK
        o64 sysexit

user_se:
        sysenter
.back:
        mov ax, cs
        cmp ax, (KCODE64 + 32) | 3
        jne .bad
        mov ax, ss
        cmp ax, (KCODE64 + 40) | 3
        jne .bad
        cmp rsp, SE_STACK
        jne .bad
        mov dword [rel user_ok], 0x5E5E
.bad:
        xor eax, eax
        syscall

align 4
se_kernel_ok dd 0

; ---------------------------------------------------------------- IRETQ / INT across rings

t_rings:
        ; INT 0x80 (DPL 3 gate) from ring 3: stack from TSS.RSP0, frame with the user SS:RSP;
        ; IRETQ back to ring 3; INT 0x81 (IST1); INT 0x82 (DPL 0 gate) -> #GP; privileged
        ; instructions in ring 3 -> #GP(0).
        mov ecx, 0x80
        mov dl, 3
        mov dh, 0
        call set_gate
        mov ecx, 0x81
        mov dl, 3
        mov dh, 1
        call set_gate
        lea rax, [rel ring_sys]
        mov [rel sys_hook], rax
        lea rax, [rel ring_int]
        mov [rel int_hook], rax
        mov dword [rel ring_stage], 0
        USER_DO user_rings
        mov qword [rel int_hook], 0
        cmp dword [rel ring_stage], 3
        CHECK64 e, "rings-int-iretq-stages"

        ; privileged instructions in ring 3
%macro PRIV_CASE 3
        mov qword [rel got_vec], -1
        USER_DO %1
        lea rdi, [rel %%n]
        mov esi, 13
        mov edx, %3
        lea rcx, [rel %1]
        call check_exc
        jmp %%e
%%n:    db %2, 0
%%e:
%endmacro
        PRIV_CASE user_hlt, "ring3-hlt-gp", 0
        PRIV_CASE user_movcr, "ring3-mov-cr3-gp", 0
        PRIV_CASE user_cli, "ring3-cli-gp", 0
        PRIV_CASE user_in, "ring3-in-gp", 0
        PRIV_CASE user_int82, "ring3-int-dpl0-gate-gp", 0x82 * 8 + 2
        mov ecx, 0x80
        xor edx, edx
        call set_gate
        mov ecx, 0x81
        xor edx, edx
        call set_gate

        ; the TSS I/O permission bitmap (ports 0-0xFF, then the limit): 0x80 allowed
        mov rdi, TSS + 0x68
        mov ecx, 33
        mov al, 0xFF
        rep stosb
        mov byte [TSS + 0x68 + 0x10], 0xFE
        mov ecx, 0x88
        call tss_reload
        mov dword [rel user_ok], 0
        mov qword [rel got_vec], -1
        USER_DO user_iobm
        lea rdi, [rel .iobm_n]
        mov esi, 13
        xor edx, edx
        lea rcx, [rel user_iobm.deny]
        call check_exc
        cmp dword [rel user_ok], 0x10
        CHECK64 e, "ring3-io-bitmap-allows"
        mov ecx, 0x67
        call tss_reload
        ret
.iobm_n: db "ring3-io-bitmap-denies-gp", 0

tss_reload:                                      ; the 64-bit TSS with limit ecx
        mov rbx, TSS
        lea rdi, [rel gdt + TSS64]
        call put_tss_desc
        mov ax, TSS64
        ltr ax
        ret

user_iobm:
        in al, 0x80
        mov dword [rel user_ok], 0x10
.deny:  in al, 0x81
        xor eax, eax
        syscall

user_hlt:
        hlt
user_movcr:
        mov cr3, rax
user_cli:
        cli
user_in:
        in al, 0x80
user_int82:
        int 0x82

; INT 0x80 (RSP0 stack) and INT 0x81 (IST1) from ring 3; ring_int checks each frame and
; IRETQs back to ring 3 at the next stage.
user_rings:
        mov rsp, USTACK_TOP - 0x100
        int 0x80
.a80:
        jmp .bad                                  ; not reached: the kernel IRETQs to .b80
.b80:
        mov ax, cs
        cmp ax, UCODE64 | 3
        jne .bad
        mov ax, ss
        cmp ax, UDATA | 3
        jne .bad
        cmp rsp, USTACK_TOP - 0x100
        jne .bad
        int 0x81
.a81:
        jmp .bad
.b81:
        mov eax, 1
        syscall                                   ; stage 3: ring_sys
.bad:
        xor eax, eax
        syscall

ring_int:                                         ; called by exc_common, frame at rsp + 8
        mov rax, [rel got_vec]
        cmp eax, 0x80
        je .s80
        cmp eax, 0x81
        je .s81
        xor eax, eax
        ret
.s80:
        mov rbx, RSP0_TOP - 40
        lea rcx, [rel user_rings.a80]
        lea rdx, [rel user_rings.b80]
        jmp .check
.s81:
        mov rbx, IST1_TOP - 40
        lea rcx, [rel user_rings.a81]
        lea rdx, [rel user_rings.b81]
.check:
        cmp rbx, [rel h_rsp]                      ; the right stack, no error code
        jne .bad
        cmp rcx, [rel got_frame]
        jne .bad
        cmp qword [rel got_frame + 8], UCODE64 | 3
        jne .bad
        cmp qword [rel got_frame + 24], USTACK_TOP - 0x100
        jne .bad
        cmp qword [rel got_frame + 32], UDATA | 3
        jne .bad
        mov rax, ss
        test eax, 0xFFFC                          ; SS is the null selector in ring 0
        jnz .bad
        inc dword [rel ring_stage]
        mov [rsp + 8], rdx                        ; IRETQ to the next stage
        mov eax, 1
        ret
.bad:
        xor eax, eax
        ret

ring_sys:
        inc dword [rel ring_stage]
        jmp [rel resume_rip]

align 8
ring_stage  dd 0
user_ok     dd 0
sys_count   dq 0
fcw         dw 0
align 4
mxcsr       dd 0

; ---------------------------------------------------------------- page faults

; Test page: linear TLIN (PML4[1]) -> PDPT_T[0] -> PD_T[0] -> PT_T[0] -> TPAGE.
TLIN        equ 0x0000008000000000

; pf_setup: ebx = case.  bits 0-4 P W U NX RSVD for the level in bits 9-10 (0 PTE, 1 PDE,
; 2 PDPTE, 3 PML4E); other levels are P|W|U.  bits 5-6 access (0 read, 1 write, 2 fetch),
; bit 7 ring 3, bit 8 CR0.WP.
pf_entry_bits:
        xor eax, eax
        test ebx, 1
        jz .p
        or eax, 1
.p:     test ebx, 2
        jz .w
        or eax, 2
.w:     test ebx, 4
        jz .u
        or eax, 4
.u:     mov rdx, 1 << 63
        test ebx, 8
        jz .nx
        or rax, rdx
.nx:    mov rdx, 1 << 51
        test ebx, 16
        jz .r
        or rax, rdx
.r:     ret

pf_setup:
        mov rax, PDPT_T | 7
        mov [PML4 + 8], rax
        mov rax, PD_T | 7
        mov [PDPT_T], rax
        mov rax, PT_T | 7
        mov [PD_T], rax
        mov rax, TPAGE | 7
        mov [PT_T], rax
        call pf_entry_bits
        mov ecx, ebx
        shr ecx, 9
        and ecx, 3
        lea rdi, [rel pf_level_addr]
        mov rdi, [rdi + rcx * 8]
        mov rdx, [rdi]
        and rdx, ~0xFFF
        or rax, rdx
        mov [rdi], rax
        mov rax, cr0
        and eax, ~(1 << 16)
        test ebx, 0x100
        jz .nowp
        or eax, 1 << 16
.nowp:  mov cr0, rax
        mov rax, cr3
        mov cr3, rax
        mov byte [TPAGE], 0xC3                   ; ret
        ret

align 8
pf_level_addr:
        dq PT_T, PD_T, PDPT_T, PML4 + 8

; pf_run: ebx = case; result -> got_vec (-1 none), got_err, got_cr2.
pf_run:
        push rbx
        call pf_setup
        pop rbx
        mov qword [rel got_vec], -1
        mov qword [rel got_err], -1
        mov qword [rel got_cr2], 0
        mov r12d, ebx
        shr r12d, 5
        and r12d, 3
        test ebx, 0x80
        jnz .user
        push rbx
        TRY
        mov qword [rel got_err], -1
        mov byte [rel iret_back], 0              ; continue at TRY_END on the kernel stack
        mov rdi, TLIN
        cmp r12d, 1
        je .kw
        ja .kx
        mov al, [rdi + 0x800]
        jmp .kdone
.kw:    mov [rdi + 0x800], al
        jmp .kdone
.kx:
        sub rsp, 8                               ; the CALL's push keeps the frame aligned
        mov [rel frame_top], rsp
        sub qword [rel frame_top], 8
        call rdi
        add rsp, 8
.kdone:
        TRY_END
        pop rbx
        ret
.user:
        mov [rel pf_acc], r12d
        push rbx
        USER_DO user_pf
        pop rbx
        ret

user_pf:
        mov rdi, TLIN
        mov eax, [rel pf_acc]
        cmp eax, 1
        je .w
        ja .x
        mov al, [rdi + 0x800]
        jmp .d
.w:     mov [rdi + 0x800], al
        jmp .d
.x:     call rdi
.d:     xor eax, eax
        syscall

; pf_report: "pf CCC VV EE K" (K = 1 when CR2 is the address accessed or no fault happened)
pf_report:
        SAY64 "pf "
        PUTHEX64 rbx, 3
        SAY64 " "
        PUTHEX64 [rel got_vec], 2
        SAY64 " "
        PUTHEX64 [rel got_err], 2
        mov rdx, TLIN + 0x800
        mov eax, ebx
        shr eax, 5
        and eax, 3
        cmp eax, 2
        jne .a
        mov rdx, TLIN
.a:     mov eax, 1
        cmp qword [rel got_vec], -1
        je .k
        cmp rdx, [rel got_cr2]
        je .k
        xor eax, eax
.k:     SAY64 " "
        PUTHEX64 rax, 1
        SAY64 {10}
        ret

t_pf_matrix:
        xor ebx, ebx
.next:
        ; at the upper levels, skip CR0.WP variations (the leaf covers them)
        mov eax, ebx
        and eax, 0x60
        cmp eax, 0x60                            ; access 3: unused
        je .skip
        mov eax, ebx
        shr eax, 9
        test eax, eax
        jz .go
        test ebx, 0x100
        jnz .skip
.go:
        push rbx
        call pf_run
        pop rbx
        call pf_report
.skip:
        inc ebx
        cmp ebx, 0x800
        jb .next
        mov rax, cr0
        or eax, 1 << 16
        mov cr0, rax
        ret

; Special reserved-bit cases, each "pfs N VV EE" (checked by the test):
;  1 PS in the PML4E   2 PS in the PDPTE (1 GiB pages not advertised)
;  3 2 MiB PDE with bit 13 set   4 2 MiB PDE, clean (no fault)
;  5 NX with EFER.NXE = 0 (read)  6 same, fetch (no I/D bit without NXE)
;  7 bit 52 in the PTE (ignored by 4-level paging: no fault)   8 bit 40 (>= MAXPHYADDR)
%macro PFS 1
        push rbx
        mov ebx, 0x007                           ; all levels P W U, read, ring 0
        call pf_setup
        pop rbx
%endmacro

pfs_go:                                          ; rbx = case number, eax = access
        push rbx
        mov rax, cr3
        mov cr3, rax
        mov qword [rel got_vec], -1
        mov qword [rel got_err], -1
        TRY
        mov qword [rel got_err], -1
        mov byte [rel iret_back], 0
        mov rdi, TLIN
        cmp dword [rel pfs_acc], 2
        je .x
        mov al, [rdi + 0x800]
        jmp .done
.x:
        sub rsp, 8                               ; the CALL's push keeps the frame aligned
        mov [rel frame_top], rsp
        sub qword [rel frame_top], 8
        call rdi
        add rsp, 8
.done:
        TRY_END
        pop rbx
        SAY64 "pfs "
        PUTHEX64 rbx, 1
        SAY64 " "
        PUTHEX64 [rel got_vec], 2
        SAY64 " "
        PUTHEX64 [rel got_err], 2
        SAY64 {10}
        ret

t_pf_special:
        mov dword [rel pfs_acc], 0
        PFS 1
        or qword [PML4 + 8], 0x80
        mov ebx, 1
        call pfs_go
        PFS 2
        or qword [PDPT_T], 0x80
        mov ebx, 2
        call pfs_go
        PFS 3
        mov qword [PD_T], 0x200000 | 0x2087
        mov ebx, 3
        call pfs_go
        PFS 4
        mov qword [PD_T], 0x200000 | 0x87
        mov ebx, 4
        call pfs_go
        ; NXE off
        mov ecx, 0xC0000080
        rdmsr
        and eax, ~0x800
        wrmsr
        PFS 5
        mov rax, 1 << 63
        or [PT_T], rax
        mov ebx, 5
        call pfs_go
        mov dword [rel pfs_acc], 2
        mov ebx, 6
        call pfs_go
        mov dword [rel pfs_acc], 0
        mov ecx, 0xC0000080
        rdmsr
        or eax, 0x800
        wrmsr
        PFS 7
        mov rax, 1 << 52
        or [PT_T], rax
        mov ebx, 7
        call pfs_go
        PFS 8
        mov rax, 1 << 40
        or [PT_T], rax
        mov ebx, 8
        call pfs_go
        ret

; ---------------------------------------------------------------- NMI, CR8 and the TPR

LAPIC       equ 0xFEE00000

t_lapic:
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

        ; an NMI sent to ourselves through the ICR arrives as vector 2
        TRY
        mov dword [rbx + 0x310], 0
        mov dword [rbx + 0x300], 0x4400          ; NMI, assert, physical, APIC ID 0
        mov ecx, 100000
.w:     cmp qword [rel got_vec], 2
        je .got
        pause
        loop .w
.got:
        CATCH "lapic-nmi", 2, -1, 0

        ; NMIs are blocked from an NMI's delivery until the next IRET
        lea rax, [rel nmi_hook]
        mov [rel int_hook], rax
        mov dword [rel nmi_count], 0
        mov dword [rel nmi_held], 0
        TRY
        mov qword [rel iret_rip], 0              ; back to the interrupted instruction
        mov ebx, LAPIC
        mov dword [rbx + 0x300], 0x4400
        mov ecx, 200000
.w2:    cmp dword [rel nmi_count], 2
        je .got2
        pause
        loop .w2
.got2:
        TRY_END
        mov qword [rel int_hook], 0
        cmp dword [rel nmi_held], 1
        CHECK64 e, "nmi-blocked-in-handler"
        cmp dword [rel nmi_count], 2
        CHECK64 e, "nmi-delivered-after-iret"

        ; STI: an interrupt pending while IF = 0 arrives after the instruction after STI
        mov ebx, LAPIC
        mov dword [rel shadow_a], 0
        TRY
        mov qword [rel iret_rip], 0
        mov dword [rbx + 0x300], 0x40046         ; self, fixed, vector 0x46 (IF is 0)
        mov ecx, 1000
.d0:    pause
        loop .d0
        cmp qword [rel got_vec], -1
        jne .early
        sti
        inc dword [rel shadow_a]
.s2:    nop
        mov ecx, 20000
.d4:    cmp qword [rel got_vec], 0x46
        je .early
        pause
        loop .d4
.early: cli
        mov dword [rbx + 0xB0], 0                ; EOI
        TRY_END
        cmp qword [rel got_vec], 0x46
        CHECK64 e, "sti-pending-interrupt"
        lea rax, [rel .s2]
        cmp rax, [rel got_frame]
        CHECK64 e, "sti-shadow-one-instruction"

        ; CR8 is the TPR's priority class
        mov ebx, LAPIC
        mov eax, 5
        mov cr8, rax
        mov eax, [rbx + 0x80]
        cmp eax, 0x50
        CHECK64 e, "cr8-writes-tpr"
        mov dword [rbx + 0x80], 0x30
        mov rax, cr8
        cmp rax, 3
        CHECK64 e, "cr8-reads-tpr"

        ; CR8 = 4 holds a vector 0x45 interrupt until CR8 drops
        mov eax, 4
        mov cr8, rax
        TRY
        mov qword [rel iret_rip], 0              ; return to the interrupted instruction
        mov ebx, LAPIC
        sti
        mov dword [rbx + 0x300], 0x40045         ; self, fixed, vector 0x45
        mov ecx, 20000
.d1:    pause
        loop .d1
        mov rax, [rel got_vec]
        mov [rel held_vec], rax
        xor eax, eax
        mov cr8, rax
        mov ecx, 20000
.d2:    cmp qword [rel got_vec], 0x45
        je .d3
        pause
        loop .d2
.d3:    cli
        mov dword [rbx + 0xB0], 0                ; EOI
        TRY_END
        cmp qword [rel held_vec], -1
        CHECK64 e, "cr8-masks-interrupt"
        cmp qword [rel got_vec], 0x45
        CHECK64 e, "cr8-lowered-delivers"
        ret

align 8
held_vec    dq 0
nmi_count   dd 0
nmi_held    dd 0
shadow_a    dd 0

; In the first NMI's handler: send a second NMI and check that it waits for IRETQ.
nmi_hook:
        cmp qword [rel got_vec], 2
        jne .no
        inc dword [rel nmi_count]
        cmp dword [rel nmi_count], 1
        jne .ret
        push rbx
        push rcx
        mov ebx, LAPIC
        mov dword [rbx + 0x300], 0x4400
        mov ecx, 20000
.w:     pause
        loop .w
        pop rcx
        pop rbx
        cmp dword [rel nmi_count], 1
        jne .ret
        mov dword [rel nmi_held], 1
.ret:
        mov eax, 1                               ; IRETQ to the interrupted code
        ret
.no:
        xor eax, eax
        ret

; ---------------------------------------------------------------- debug registers

t_debug:
        ; instruction breakpoint: a fault before the instruction, DR6.B0
        xor eax, eax
        mov dr6, rax
        lea rax, [rel .bp]
        mov dr0, rax
        mov eax, 1                               ; L0, execute, 1 byte
        mov dr7, rax
        TRY
        nop
.bp:    nop
        CATCH "dr-exec-breakpoint", 1, -1, .bp
        mov rax, [rel got_dr6]
        test eax, 1
        CHECK64 nz, "dr-exec-dr6-b0"

        ; the handler returns with RF set: the instruction then runs once, no new #DB
        lea rax, [rel dbg_rf_hook]
        mov [rel int_hook], rax
        mov dword [rel dbg_count], 0
        mov dword [rel dbg_ran], 0
        TRY
        mov qword [rel iret_rip], 0              ; back to the instruction
        lea rax, [rel .bp2]
        mov dr0, rax
.bp2:   inc dword [rel dbg_ran]
        TRY_END
        mov qword [rel int_hook], 0
        cmp dword [rel dbg_count], 1
        CHECK64 e, "dr-exec-rf-one-db"
        cmp dword [rel dbg_ran], 1
        CHECK64 e, "dr-exec-rf-resumes"

        ; data breakpoint on writes (4 bytes at dbg_var): a trap after the write, DR6.B1
        xor eax, eax
        mov dr6, rax
        lea rax, [rel dbg_var]
        mov dr1, rax
        mov eax, (1 << 2) | (1 << 20) | (3 << 22)    ; L1, write, 4 bytes
        mov dr7, rax
        TRY
        mov eax, [rel dbg_var]                   ; a read does not trigger it
        mov byte [rel dbg_var + 2], 7
.w:
        CATCH "dr-data-write-trap", 1, -1, .w
        mov rax, [rel got_dr6]
        test eax, 2
        CHECK64 nz, "dr-data-dr6-b1"
        cmp byte [rel dbg_var + 2], 7
        CHECK64 e, "dr-data-write-done"
        TRY
        mov eax, [rel dbg_var + 4]               ; next to it: nothing
        mov qword [rel got_vec], 0x55
        CATCH "dr-data-outside", 0x55, -2, 0

        ; read/write breakpoint: a read triggers it too
        mov eax, (1 << 2) | (3 << 20) | (3 << 22)    ; L1, read/write, 4 bytes
        mov dr7, rax
        TRY
        mov eax, [rel dbg_var]
.r:
        CATCH "dr-data-read-trap", 1, -1, .r
        xor eax, eax
        mov dr7, rax
        ret

dbg_rf_hook:                                     ; frame at rsp + 8
        cmp qword [rel got_vec], 1
        jne .no
        inc dword [rel dbg_count]
        cmp dword [rel dbg_count], 1
        ja .no
        or qword [rsp + 8 + 16], 0x10000         ; RF in the saved RFLAGS
        mov eax, 1
        ret
.no:
        xor eax, eax
        mov dr7, rax
        ret

align 8
dbg_var     dq 0
dbg_count   dd 0
dbg_ran     dd 0

align 4
pf_acc      dd 0
pfs_acc     dd 0

align 16
image_end:
