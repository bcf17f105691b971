; cpusys_df: nested faults in long mode.  A contributory fault while delivering a contributory
; fault, a page fault while delivering a page fault and a contributory fault while delivering
; a page fault become #DF (error code 0, on its IST stack); a page fault while delivering a
; contributory fault and a fault while delivering INT n are delivered normally.  Finally a
; fault while delivering #DF: triple fault, which bhyve reports with exit status 3 (the line
; "cpusys: done" comes before it, nothing after it).
%include "cpusys.inc"

main32:
        GO_LONG long_main

bits 64
%include "cpusys64.inc"

BADSTACK    equ 0x7FFF00002000            ; not mapped

; GATE_P vector, present (0/1)
%macro GATE_P 2
        mov rdi, IDT + %1 * 16 + 5
%if %2
        or byte [rdi], 0x80
%else
        and byte [rdi], 0x7F
%endif
%endmacro

long_main:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov rsp, KSTACK_TOP
        call idt_init64
        call tss_init64
        mov rax, BADSTACK
        mov [TSS + 0x34], rax                    ; IST3: an unmapped stack
        mov ecx, 8                               ; #DF on IST2
        xor edx, edx
        mov dh, 2
        call set_gate

        ; #GP while the #GP gate is not present: #NP during #GP -> #DF
        GATE_P 13, 0
        TRY
        mov qword [rel frame_top], DF_TOP
        mov ax, 0xFFF8
        mov ds, ax
        CATCH "df-np-during-gp", 8, 0, 0
        GATE_P 13, 1
        mov rax, [rel h_rsp]
        cmp rax, DF_TOP - 48
        CHECK64 e, "df-on-ist2"

        ; #PF while delivering #PF (its stack is not mapped) -> #DF
        mov ecx, 14
        xor edx, edx
        mov dh, 3
        call set_gate
        TRY
        mov qword [rel frame_top], DF_TOP
        mov rbx, 0x7FFF00000000
        mov al, [rbx]
        CATCH "df-pf-during-pf", 8, 0, 0
        mov rax, [rel got_cr2]
        mov rbx, BADSTACK - 8
        cmp rax, rbx
        CHECK64 e, "df-pf-during-pf-cr2"
        mov ecx, 14
        xor edx, edx
        call set_gate

        ; #GP while delivering #PF (the #PF gate names a data segment) -> #DF
        mov word [IDT + 14 * 16 + 2], KDATA
        TRY
        mov qword [rel frame_top], DF_TOP
        mov rbx, 0x7FFF00000000
        mov al, [rbx]
        CATCH "df-gp-during-pf", 8, 0, 0
        mov word [IDT + 14 * 16 + 2], KCODE64

        ; #PF while delivering #GP (its IST stack is not mapped): the #PF is delivered
        mov ecx, 13
        xor edx, edx
        mov dh, 3
        call set_gate
        TRY
        mov ax, 0xFFF8
.gp:    mov ds, ax
        CATCH "pf-during-gp-no-df", 14, 2, .gp
        mov ecx, 13
        xor edx, edx
        call set_gate

        ; #NP while delivering INT n: just #NP (INT n is not an exception)
        GATE_P 0x91, 0
        TRY
.int:   int 0x91
        CATCH "np-during-int-n-no-df", 11, 0x91 * 8 + 2, .int
        GATE_P 0x91, 1

        ; #UD (benign) while the #UD gate is not present: #NP, no #DF
        GATE_P 6, 0
        TRY
.ud:    ud2
        CATCH "np-during-ud-no-df", 11, 6 * 8 + 3, .ud
        GATE_P 6, 1

        SAY64 "cpusys: done failures="
        mov eax, [rel failures]
        PUTHEX64 rax, 8
        SAY64 {10}
        cmp dword [rel failures], 0
        jne .off

        ; #GP -> #NP (gate 13 absent) -> #DF -> #NP (gate 8 absent): triple fault
        GATE_P 13, 0
        GATE_P 8, 0
        mov ax, 0xFFF8
        mov ds, ax
        SAY64 {"cpusys: FAIL still running after the triple fault", 10}
.off:
        mov dx, PM1A_CNT
        mov ax, SLP_S5
        out dx, ax
.h:     hlt
        jmp .h

align 16
image_end:
