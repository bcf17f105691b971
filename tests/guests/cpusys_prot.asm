; cpusys_prot: 32-bit protected mode.  Exceptions with their error codes and saved EIP (#DE,
; #OF from INTO, #BR from BOUND, #UD, #NP, #SS, #GP for selectors and segment limits, INT n
; without error codes); IRETD into ring 3 and INT from ring 3 through the TSS's SS0:ESP0;
; page faults with 32-bit paging (one line "pf32 <case> <vector> <error> <cr2 ok>" per case of
; P, R/W, U/S x read/write/fetch x ring 0/3 x CR0.WP x PDE/PTE, checked by the test) and the
; PSE-36 reserved bit; PAE paging: the PDPTE registers (loaded and checked by MOV CR3 and
; CR0.PG: #GP(0) for reserved bits, later changes in memory unseen until CR3 is reloaded),
; reserved bits 62:MAXPHYADDR, XD and the I/D error-code bit.
%include "cpusys.inc"

TLIN        equ 0x40000000

main32:
        call idt_init32
        call tss_init32
        call t_exceptions
        call t_int_n
        call t_rings
        call t_pf32
        call t_pae
        ret

; ---------------------------------------------------------------- the frame

idt_init32:
        xor ecx, ecx
.g:
        mov eax, [stub_table + ecx * 4]
        mov [IDT + ecx * 8], ax
        mov word [IDT + ecx * 8 + 2], KCODE32
        mov word [IDT + ecx * 8 + 4], 0x8E00
        shr eax, 16
        mov [IDT + ecx * 8 + 6], ax
        inc ecx
        cmp ecx, 256
        jb .g
        mov byte [IDT + 0x80 * 8 + 5], 0xEE      ; DPL 3: INT 0x80 and 0x7F from ring 3
        mov byte [IDT + 0x7F * 8 + 5], 0xEE
        lidt [idt_desc32]
        ret

tss_init32:
        mov dword [TSS + 4], RSP0_TOP            ; ESP0
        mov dword [TSS + 8], KDATA               ; SS0
        mov word [TSS + 0x66], 0x68
        mov eax, TSS
        mov word [gdt + TSS32], 0x67
        mov [gdt + TSS32 + 2], ax
        shr eax, 16
        mov [gdt + TSS32 + 4], al
        mov byte [gdt + TSS32 + 5], 0x89
        mov byte [gdt + TSS32 + 6], 0
        mov [gdt + TSS32 + 7], ah
        mov ax, TSS32
        ltr ax
        ret

%assign i 0
%rep 256
stub_%[i]:
        mov byte [ss:cur_vec], i                 ; DS may be unusable here
        jmp exc32
%assign i i + 1
%endrep

align 4
stub_table:
%assign i 0
%rep 256
        dd stub_%[i]
%assign i i + 1
%endrep

; Frame words up to [frame_top]: 3 (+1 error code) in the same ring, 5 (+1) from ring 3.
exc32:
        mov [ss:h_esp], esp
        mov [ss:saved_ds], ds
        mov [ss:saved_es], es
        push KDATA
        pop ds
        push KDATA
        pop es

        mov eax, [frame_top]
        sub eax, esp
        shr eax, 2
        mov [got_words], eax
        mov dword [got_err], -1
        cmp eax, 4
        je .err
        cmp eax, 6
        jne .noerr
.err:
        pop ebx
        mov [got_err], ebx
.noerr:
        mov esi, esp
        mov edi, got_frame
        mov ecx, 5
        rep movsd
        movzx eax, byte [cur_vec]
        mov [got_vec], eax
        mov eax, cr2
        mov [got_cr2], eax
        and dword [esp + 8], ~0x100
        mov eax, [int_hook]
        test eax, eax
        jz .nohook
        call eax
        test eax, eax
        jnz .iret
.nohook:
        cmp byte [iret_back], 0
        je .kernel
        mov eax, [iret_rip]
        test eax, eax
        jz .iret
        mov [esp], eax
.iret:
        mov es, [saved_es]
        mov ds, [saved_ds]
        iretd
.kernel:
        mov esp, [exp_esp]
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        jmp [resume_rip]

%macro TRY 0
        %push try
        mov [saved_esp], esp
        mov dword [resume_rip], %$resume
        mov dword [iret_rip], %$resume
        mov dword [got_vec], -1
        mov dword [got_err], -2
        mov [exp_esp], esp
        mov [frame_top], esp
        mov byte [iret_back], 1
%endmacro

%macro TRY_END 0
%$resume:
        mov esp, [saved_esp]
        %pop
%endmacro

; CATCH "name", vector, error code (-1 none), saved EIP (label or 0)
%macro CATCH 4
%$resume:
        mov esp, [saved_esp]
        mov edi, %%name
        mov esi, %2
        mov edx, %3
        mov ecx, %4
        call check_exc
        jmp %%end
%%name: db %1, 0
%%end:
        %pop
%endmacro

check_exc:
        cmp esi, [got_vec]
        jne .bad
        cmp edx, [got_err]
        jne .bad
        cmp edx, -2                              ; no exception expected
        je .rip
        mov eax, [got_words]
        cmp edx, -1
        je .noerr
        dec eax
.noerr:
        cmp eax, 3
        je .rip
        cmp eax, 5
        jne .bad
.rip:
        test ecx, ecx
        jz .ok
        cmp ecx, [got_frame]
        jne .bad
.ok:
        SAY32 "cpusys: "
        mov esi, edi
        call puts32
        SAY32 {" ok", 10}
        ret
.bad:
        SAY32 "cpusys: "
        mov esi, edi
        call puts32
        SAY32 " FAIL vec="
        mov eax, [got_vec]
        call puthex32
        SAY32 " err="
        mov eax, [got_err]
        call puthex32
        SAY32 " words="
        mov eax, [got_words]
        call puthex32
        SAY32 " eip="
        mov eax, [got_frame]
        call puthex32
        SAY32 {10}
        inc dword [failures]
        ret

; USER_GO label: IRETD to ring 3 at label; ring 3 comes back with INT 0x7F or an exception.
%macro USER_GO 1
        mov [saved_esp], esp
        mov dword [resume_rip], %%back
        mov [exp_esp], esp
        mov dword [frame_top], RSP0_TOP
        mov byte [iret_back], 0
        push UDATA | 3
        push USTACK_TOP
        push 0x202
        push UCODE32 | 3
        push %1
        iretd
%%back:
        mov esp, [saved_esp]
%endmacro

; ---------------------------------------------------------------- exceptions

t_exceptions:
        TRY
        xor ecx, ecx
.de:    div ecx
        CATCH "p32-exc-de", 0, -1, .de

        TRY
        mov al, 0x7F
        add al, 1                                ; OF
.of:    into
.ofe:
        CATCH "p32-exc-of-into", 4, -1, .ofe

        TRY
        mov al, 0x7F
        add al, 0                                ; no OF: INTO does nothing
        into
        mov dword [got_vec], 0x55
        CATCH "p32-into-no-of", 0x55, -2, 0

        TRY
        mov eax, 11
.br:    bound eax, [bounds]
        CATCH "p32-exc-br-bound", 5, -1, .br

        TRY
        mov eax, 10
        bound eax, [bounds]                      ; in range: nothing
        mov dword [got_vec], 0x55
        CATCH "p32-bound-in-range", 0x55, -2, 0

        TRY
.ud:    ud2
        CATCH "p32-exc-ud", 6, -1, .ud
        test dword [got_frame + 8], 0x10000      ; a fault pushes EFLAGS.RF = 1
        CHECK32 nz, "p32-rf-in-fault-frame"

        ; POP SS holds the single-step trap until the next instruction completes
        TRY
        push ss
        pushfd
        or dword [esp], 0x100
        popfd
        pop ss
        nop
.pss:
        CATCH "p32-pop-ss-single-step-held", 1, -1, .pss

        TRY
        mov ax, NPDATA
.np:    mov es, ax
        CATCH "p32-exc-np", 11, NPDATA, .np

        TRY
        mov ax, NPDATA
.ss:    mov ss, ax
        CATCH "p32-exc-ss", 12, NPDATA, .ss

        TRY
        mov ax, 0xFFF8
.gp1:   mov es, ax
        CATCH "p32-exc-gp-selector", 13, 0xFFF8, .gp1

        TRY
        mov ax, KCODE32                          ; a code segment is not a stack
.gp2:   mov ss, ax
        CATCH "p32-exc-gp-ss-code", 13, KCODE32, .gp2

        TRY
        mov ax, KDATA16                          ; limit 0xFFFF
        mov es, ax
.gp3:   mov al, [es:0x10000]
        CATCH "p32-exc-gp-limit", 13, 0, .gp3
        mov ax, KDATA
        mov es, ax

        ; targets beyond the code segment's limit (KCODE16: 64 KiB): #GP(0), nothing changed
        TRY
.cl1:   jmp KCODE16:0x12345
        CATCH "p32-cs-limit-far-jmp", 13, 0, .cl1
        TRY
.cl2:   call KCODE16:0x12345                     ; words 3+1: the CALL pushed nothing
        CATCH "p32-cs-limit-far-call", 13, 0, .cl2
        TRY
        pushfd
        push dword KCODE16
        push dword 0x12345
        mov [frame_top], esp                     ; the #GP frame goes below these
.cl3:   iretd
        CATCH "p32-cs-limit-iret", 13, 0, .cl3
        TRY
        push dword KCODE16
        push dword 0x12345
        mov [frame_top], esp
.cl4:   retf
        CATCH "p32-cs-limit-far-ret", 13, 0, .cl4
        mov word [IDT + 0x92 * 8], 0x2345         ; gate 0x92 -> KCODE16:0x12345
        mov word [IDT + 0x92 * 8 + 2], KCODE16
        mov word [IDT + 0x92 * 8 + 6], 0x1
        TRY
.cl5:   int 0x92
        CATCH "p32-cs-limit-gate", 13, 0, .cl5
        mov ax, cs
        cmp ax, KCODE32
        CHECK32 e, "p32-cs-limit-cs-unchanged"

        TRY
        mov ax, KCODE32
        mov es, ax                               ; readable code: loads
.gp4:   mov [es:0x1000], al                      ; but is not writable
        CATCH "p32-exc-gp-write-code", 13, 0, .gp4
        mov ax, KDATA
        mov es, ax
        ret

%macro INT_CASE 1
        TRY
        int %1
%%after:
        CATCH "p32-int-n", %1, -1, %%after
%endmacro

t_int_n:
%assign v 0
%rep 32
        INT_CASE v
%assign v v + 1
%endrep
        ret

; ---------------------------------------------------------------- rings

t_rings:
        mov dword [int_hook], ring_int
        mov dword [ring_stage], 0
        USER_GO user_rings
        mov dword [int_hook], 0
        cmp dword [ring_stage], 2
        CHECK32 e, "p32-ring3-int-iretd"

        mov dword [got_vec], -1
        USER_GO user_hlt
        mov edi, .n1
        mov esi, 13
        xor edx, edx
        mov ecx, user_hlt.hlt
        call check_exc
        mov eax, [h_esp]
        cmp eax, RSP0_TOP - 24                   ; SS ESP EFLAGS CS EIP error
        CHECK32 e, "p32-ring3-gp-on-esp0"
        ret
.n1:    db "p32-ring3-hlt-gp", 0

user_rings:
        mov ax, UDATA | 3
        mov ds, ax
        mov es, ax
        mov esp, USTACK_TOP - 0x40
        int 0x80
.a80:
        int 0x7F                                 ; not reached: the kernel IRETDs to .b80
.b80:
        mov ax, cs
        cmp ax, UCODE32 | 3
        jne .bad
        cmp esp, USTACK_TOP - 0x40
        jne .bad
        inc dword [ring_stage]
.bad:
        int 0x7F

user_hlt:
        mov ax, UDATA | 3
        mov ds, ax
.hlt:   hlt
        int 0x7F

ring_int:                                        ; frame at esp + 4
        cmp dword [got_vec], 0x80
        jne .no
        cmp dword [h_esp], RSP0_TOP - 20
        jne .no
        cmp dword [got_frame], user_rings.a80
        jne .no
        cmp dword [got_frame + 4], UCODE32 | 3
        jne .no
        cmp dword [got_frame + 12], USTACK_TOP - 0x40
        jne .no
        cmp dword [got_frame + 16], UDATA | 3
        jne .no
        mov ax, ss
        cmp ax, KDATA
        jne .no
        inc dword [ring_stage]
        mov dword [esp + 4], user_rings.b80
        mov eax, 1
        ret
.no:
        xor eax, eax
        ret

; ---------------------------------------------------------------- 32-bit paging

; case: bits 0-2 P W U of the entry at level bit 7 (0 PTE, 1 PDE; the other P|W|U), bits 3-4
; access (0 read, 1 write, 2 fetch), bit 5 ring 3, bit 6 CR0.WP.
pf32_setup:
        mov dword [PD32 + 0x100 * 4], PT32 | 7
        mov dword [PT32], TPAGE | 7
        mov eax, ebx
        and eax, 7
        mov edi, PT32
        test ebx, 0x80
        jz .pte
        mov edi, PD32 + 0x100 * 4
.pte:
        mov edx, [edi]
        and edx, ~0xFFF
        or edx, eax
        mov [edi], edx
        mov eax, cr0
        and eax, ~(1 << 16)
        test ebx, 0x40
        jz .nowp
        or eax, 1 << 16
.nowp:  mov cr0, eax
        mov eax, cr3
        mov cr3, eax
        mov byte [TPAGE], 0xC3
        ret

pf32_on:
        xor ecx, ecx
.pd:
        mov eax, ecx
        shl eax, 22
        or eax, 0x87
        mov [PD32 + ecx * 4], eax
        inc ecx
        cmp ecx, 8
        jb .pd
        mov eax, cr4
        or eax, 0x10                             ; PSE
        mov cr4, eax
        mov eax, PD32
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        ret

pf32_off:
        mov eax, cr0
        and eax, 0x7FFFFFFF
        mov cr0, eax
        ret

pf32_run:                                        ; ebx = case
        push ebx
        call [pf_setup_fn]
        pop ebx
        mov ebp, ebx
        shr ebp, 3
        and ebp, 3
        test ebx, 0x20
        jnz .user
        push ebx
        TRY
        mov dword [got_err], -1
        mov byte [iret_back], 0
        mov edi, TLIN
        cmp ebp, 1
        je .w
        ja .x
        mov al, [edi + 0x800]
        jmp .d
.w:     mov [edi + 0x800], al
        jmp .d
.x:     sub dword [frame_top], 4
        call edi
.d:
        TRY_END
        pop ebx
        ret
.user:
        mov [pf_acc], ebp
        push ebx
        mov dword [got_vec], -1
        mov dword [got_err], -1
        USER_GO user_pf
        pop ebx
        cmp dword [got_vec], 0x7F                ; INT 0x7F: back without a fault
        jne .f
        mov dword [got_vec], -1
        mov dword [got_err], -1
.f:
        ret

user_pf:
        mov ax, UDATA | 3
        mov ds, ax
        mov edi, TLIN
        mov eax, [pf_acc]
        cmp eax, 1
        je .w
        ja .x
        mov al, [edi + 0x800]
        int 0x7F
.w:     mov [edi + 0x800], al
        int 0x7F
.x:     call edi
        int 0x7F

pf32_report:                                     ; "<tag> CCC VV EE K"
        mov esi, [pf_tag]
        call puts32
        mov eax, ebx
        shr eax, 8
        shl eax, 28
        call puthex32_1
        mov eax, ebx
        shl eax, 24
        call puthex32_2
        SAY32 " "
        mov eax, [got_vec]
        shl eax, 24
        call puthex32_2
        SAY32 " "
        mov eax, [got_err]
        shl eax, 24
        call puthex32_2
        mov edx, TLIN + 0x800
        mov eax, ebx
        shr eax, 3
        and eax, 3
        cmp eax, 2
        jne .a
        mov edx, TLIN
.a:     cmp dword [got_vec], -1
        je .k1
        cmp edx, [got_cr2]
        je .k1
        SAY32 {" 0", 10}
        ret
.k1:    SAY32 {" 1", 10}
        ret

puthex32_1:                                      ; the top nibble of eax as 1 hex digit
        push ecx
        push edi
        push esi
        mov ecx, 1
        jmp puthex32_2.go
puthex32_2:                                      ; the top byte of eax as 2 hex digits
        push ecx
        push edi
        push esi
        mov ecx, 2
.go:
        mov edi, hexbuf
.h:     rol eax, 4
        mov esi, eax
        and esi, 0xF
        mov dl, [hexdig + esi]
        mov [edi], dl
        inc edi
        loop .h
        mov byte [edi], 0
        mov esi, hexbuf
        call puts32
        pop esi
        pop edi
        pop ecx
        ret

t_pf32:
        call pf32_on
        mov dword [pf_setup_fn], pf32_setup
        mov dword [pf_tag], tag_pf32
        xor ebx, ebx
.next:
        mov eax, ebx
        and eax, 0x18
        cmp eax, 0x18
        je .skip
        push ebx
        call pf32_run
        pop ebx
        call pf32_report
.skip:
        inc ebx
        cmp ebx, 0x100
        jb .next

        ; a 4 MiB page with bit 21 set (reserved with PSE-36 and MAXPHYADDR 40)
        mov dword [PD32 + 0x100 * 4], 0x00400000 | 0x200000 | 0x87
        mov eax, cr3
        mov cr3, eax
        TRY
.rs:    mov al, [TLIN + 0x800]
        CATCH "p32-pf-pse36-reserved", 14, 9, .rs
        mov dword [PD32 + 0x100 * 4], 0x00400000 | 0x87
        mov eax, cr3
        mov cr3, eax
        TRY
        mov al, [TLIN + 0x800]
        mov dword [got_vec], 0x55
        CATCH "p32-pf-4m-page-ok", 0x55, -2, 0
        mov eax, cr0
        or eax, 1 << 16
        mov cr0, eax
        call pf32_off
        ret

; ---------------------------------------------------------------- PAE paging

pae_tables:
        mov dword [PDPT_PAE], PD_PAE | 1
        mov dword [PDPT_PAE + 8], PD_T | 1       ; 0x40000000
        mov dword [PDPT_PAE + 16], 0
        mov dword [PDPT_PAE + 24], 0
        xor ecx, ecx
.pd:
        mov eax, ecx
        shl eax, 21
        or eax, 0x87
        mov [PD_PAE + ecx * 8], eax
        mov dword [PD_PAE + ecx * 8 + 4], 0
        inc ecx
        cmp ecx, 16
        jb .pd
        mov dword [PD_T], PT_PAE | 7
        mov dword [PD_T + 4], 0
        mov dword [PT_PAE], TPAGE | 7
        mov dword [PT_PAE + 4], 0
        ret

; PAE_PTE low, high: set the test PTE and reload CR3.
%macro PAE_PTE 2
        mov dword [PT_PAE], %1
        mov dword [PT_PAE + 4], %2
        mov eax, cr3
        mov cr3, eax
%endmacro

t_pae:
        call pae_tables
        mov eax, cr4
        or eax, 0x20                             ; PAE
        mov cr4, eax
        mov eax, PDPT_PAE
        mov cr3, eax
        mov ecx, 0xC0000080
        rdmsr
        or eax, 0x800                            ; NXE
        wrmsr

        ; CR0.PG with a reserved bit in a present PDPTE: #GP(0), paging stays off
        or dword [PDPT_PAE + 16], 0x3            ; P and bit 1 (reserved)
        TRY
        mov eax, cr0
        or eax, 0x80000000
.pg:    mov cr0, eax
        CATCH "pae-pg-bad-pdpte-gp", 13, 0, .pg
        mov eax, cr0
        test eax, 0x80000000
        CHECK32 z, "pae-pg-bad-pdpte-unchanged"
        mov dword [PDPT_PAE + 16], 0
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax

        TRY
        mov al, [TLIN + 0x800]
        mov dword [got_vec], 0x55
        CATCH "pae-read-ok", 0x55, -2, 0

        ; MOV CR3 with a reserved bit in a present PDPTE: #GP(0), CR3 unchanged
        mov dword [PDPT_PAE + 24], 1 | 0x100     ; bit 8 is reserved
        TRY
        mov eax, PDPT_PAE
.cr3:   mov cr3, eax
        CATCH "pae-cr3-bad-pdpte-gp", 13, 0, .cr3
        mov dword [PDPT_PAE + 24], 0
        mov dword [PDPT_PAE + 28], 0x80000000    ; XD is reserved in a PDPTE too
        or dword [PDPT_PAE + 24], 1
        TRY
        mov eax, PDPT_PAE
.cr3b:  mov cr3, eax
        CATCH "pae-cr3-pdpte-xd-gp", 13, 0, .cr3b
        mov dword [PDPT_PAE + 24], 0
        mov dword [PDPT_PAE + 28], 0
        mov eax, PDPT_PAE
        mov cr3, eax

        ; the PDPTEs are registers: a change in memory is unseen until CR3 is written
        mov dword [PDPT_PAE + 8], 0
        TRY
        mov al, [TLIN + 0x800]
        mov dword [got_vec], 0x55
        CATCH "pae-pdpte-cached", 0x55, -2, 0
        mov eax, cr3
        mov cr3, eax
        TRY
.np:    mov al, [TLIN + 0x800]
        CATCH "pae-pdpte-reloaded-not-present", 14, 0, .np
        mov dword [PDPT_PAE + 8], PD_T | 1
        mov eax, cr3
        mov cr3, eax

        ; XD with NXE: fetch faults with the I/D bit; a not-present fetch has I/D too
        PAE_PTE TPAGE | 7, 0x80000000
        TRY
        mov dword [frame_top], esp
        sub dword [frame_top], 4
        mov eax, TLIN
.x1:    call eax
        CATCH "pae-pf-xd-fetch", 14, 0x11, 0
        PAE_PTE TPAGE | 6, 0
        TRY
        mov dword [frame_top], esp
        sub dword [frame_top], 4
        mov eax, TLIN
        call eax
        CATCH "pae-pf-not-present-fetch", 14, 0x10, 0
        PAE_PTE TPAGE | 7, 0x80000000
        TRY
        mov al, [TLIN + 0x800]                   ; XD does not stop reads
        mov dword [got_vec], 0x55
        CATCH "pae-xd-read-ok", 0x55, -2, 0

        ; bits 62:MAXPHYADDR are reserved with PAE (unlike 4-level paging's 62:52)
        PAE_PTE TPAGE | 7, 0x40000000            ; bit 62
        TRY
.r62:   mov al, [TLIN + 0x800]
        CATCH "pae-pf-bit62-reserved", 14, 9, .r62
        PAE_PTE TPAGE | 7, 0x100                 ; bit 40
        TRY
.r40:   mov al, [TLIN + 0x800]
        CATCH "pae-pf-bit40-reserved", 14, 9, .r40
        PAE_PTE TPAGE | 7, 0
        mov dword [PD_T], 0x200000 | 0x2087      ; 2 MiB page, bit 13 reserved
        mov eax, cr3
        mov cr3, eax
        TRY
.r13:   mov [TLIN + 0x800], al
        CATCH "pae-pf-2m-bit13-reserved", 14, 0xB, .r13
        mov eax, [got_cr2]
        cmp eax, TLIN + 0x800
        CHECK32 e, "pae-pf-cr2"

        ; the PAE matrix (NXE on): P W U of the PDE or PTE as in the 32-bit one, plus XD
        ; (bit 8) and bit 62, reserved (bit 9)
        PAE_PTE TPAGE | 7, 0
        mov dword [PD_T], PT_PAE | 7
        mov dword [PD_T + 4], 0
        mov dword [pf_setup_fn], pae_setup
        mov dword [pf_tag], tag_pae
        xor ebx, ebx
.m:
        mov eax, ebx
        and eax, 0x18
        cmp eax, 0x18
        je .mskip
        push ebx
        call pf32_run
        pop ebx
        call pf32_report
.mskip:
        inc ebx
        cmp ebx, 0x400
        jb .m
        mov eax, cr0
        or eax, 1 << 16
        mov cr0, eax

        ; NXE off: XD is a reserved bit
        PAE_PTE TPAGE | 7, 0x80000000
        mov dword [PD_T], PT_PAE | 7
        mov ecx, 0xC0000080
        rdmsr
        and eax, ~0x800
        wrmsr
        mov eax, cr3
        mov cr3, eax
        TRY
.rxd:   mov al, [TLIN + 0x800]
        CATCH "pae-pf-xd-without-nxe-reserved", 14, 9, .rxd
        call pf32_off
        ret

; pae_setup: ebx = case (see t_pae); the other level is P|W|U.
pae_setup:
        mov dword [PD_T], PT_PAE | 7
        mov dword [PD_T + 4], 0
        mov dword [PT_PAE], TPAGE | 7
        mov dword [PT_PAE + 4], 0
        mov edi, PT_PAE
        test ebx, 0x80
        jz .pte
        mov edi, PD_T
.pte:
        mov eax, [edi]
        and eax, ~7
        mov edx, ebx
        and edx, 7
        or eax, edx
        mov [edi], eax
        xor eax, eax
        test ebx, 0x100
        jz .nx
        or eax, 0x80000000
.nx:    test ebx, 0x200
        jz .rs
        or eax, 0x40000000
.rs:    mov [edi + 4], eax
        mov eax, cr0
        and eax, ~(1 << 16)
        test ebx, 0x40
        jz .nowp
        or eax, 1 << 16
.nowp:  mov cr0, eax
        mov eax, cr3
        mov cr3, eax
        mov byte [TPAGE], 0xC3
        ret

tag_pf32    db "pf32 ", 0
tag_pae     db "pae ", 0

align 8
bounds      dd 0, 10
idt_desc32:
        dw 256 * 8 - 1
        dd IDT

align 4
cur_vec     dd 0
got_vec     dd 0
got_err     dd 0
got_words   dd 0
got_cr2     dd 0
got_frame   times 5 dd 0
h_esp       dd 0
frame_top   dd 0
exp_esp     dd 0
saved_esp   dd 0
resume_rip  dd 0
iret_rip    dd 0
iret_back   dd 0
int_hook    dd 0
ring_stage  dd 0
pf_acc      dd 0
pf_setup_fn dd 0
pf_tag      dd 0
saved_ds    dd 0
saved_es    dd 0

align 16
image_end:
