; cpusys_modes: the operating modes and the transitions between them.  From 32-bit protected
; mode (Multiboot) through 16-bit protected mode to real mode (CR0.PE clear, segment
; arithmetic, the IVT at IDTR 0, 32-bit operands, CS 0), back to 32-bit protected mode, into
; long mode (EFER.LMA, 64-bit registers), to compatibility mode (LMA still set, 32-bit code),
; out of long mode (paging off: LMA clear), and once more down to real mode and back.
%include "cpusys.inc"

R_PE        equ 0x7E00                   ; real-mode results (bytes, 1 = ok)
R_SEG       equ 0x7E01
R_INT       equ 0x7E02
R_OP32      equ 0x7E03
R_CS        equ 0x7E04
R_IVT       equ 0x7E05
R_COUNT     equ 0x7E08
R_DE        equ 0x7E09                   ; real-mode exceptions through the IVT
R_GP        equ 0x7E0A
R_UD        equ 0x7E0B
R_SP        equ 0x7E0C
R64_LMA     equ 0x7E10                   ; long-mode results
R64_OP      equ 0x7E11
R64_CS      equ 0x7E12
RC_LMA      equ 0x7E13
RC_CS       equ 0x7E14
RC_OP       equ 0x7E15
ROFF_LMA    equ 0x7E16
ROFF_PG     equ 0x7E17
GDTR_LOW    equ 0x7F80
IDTR_LOW    equ 0x7F88
PM_RET      equ 0x7F90                   ; m16:32 continuation in protected mode
ESP_SAVE    equ 0x7F98
%define LOW(x) ((x) - rm_start + LOWCODE)

%macro RESULT32 2                          ; RESULT32 address, "name"
        cmp byte [%1], 1
        CHECK32 e, %2
%endmacro

main32:
        mov eax, cr0
        test al, 1
        CHECK32 nz, "pm32-entry-pe"
        mov ax, cs
        cmp ax, KCODE32
        CHECK32 e, "pm32-entry-cs"
        mov esi, rm_start                        ; the real-mode code goes below 64 KiB
        mov edi, LOWCODE
        mov ecx, rm_end - rm_start
        rep movsb
        sgdt [GDTR_LOW]
        mov word [IDTR_LOW], 0x3FF
        mov dword [IDTR_LOW + 2], 0
        mov dword [PM_RET], pm_back1
        mov word [PM_RET + 4], KCODE32
        mov [ESP_SAVE], esp
        jmp KCODE16:LOW(rm16)

pm_back1:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, [ESP_SAVE]
        mov eax, cr0
        test al, 1
        CHECK32 nz, "real-to-pm32"
        RESULT32 R_PE, "real1-pe-clear"
        RESULT32 R_SEG, "real1-segment-arithmetic"
        RESULT32 R_INT, "real1-ivt-int"
        RESULT32 R_IVT, "real1-int-frame"
        RESULT32 R_OP32, "real1-32bit-operand"
        RESULT32 R_CS, "real1-cs"
        RESULT32 R_DE, "real1-de-ivt"
        RESULT32 R_GP, "real1-gp-limit-ivt"
        RESULT32 R_UD, "real1-ud-ivt"
        GO_LONG lm64

pm_after_long:
        RESULT32 R64_LMA, "long-lma"
        RESULT32 R64_OP, "long-64bit-register"
        RESULT32 R64_CS, "long-cs"
        RESULT32 RC_LMA, "compat-lma-still-set"
        RESULT32 RC_CS, "compat-cs"
        RESULT32 RC_OP, "compat-32bit-operand"
        RESULT32 ROFF_LMA, "long-off-lma-clear"
        RESULT32 ROFF_PG, "long-off-pg-clear"
        mov dword [R_PE], 0
        mov dword [R_PE + 4], 0
        mov dword [PM_RET], pm_back2
        mov [ESP_SAVE], esp
        jmp KCODE16:LOW(rm16)

pm_back2:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, [ESP_SAVE]
        RESULT32 R_PE, "real2-pe-clear"
        RESULT32 R_SEG, "real2-segment-arithmetic"
        RESULT32 R_INT, "real2-ivt-int"
        RESULT32 R_OP32, "real2-32bit-operand"
        RESULT32 R_DE, "real2-de-ivt"
        RESULT32 R_GP, "real2-gp-limit-ivt"
        cmp byte [R_COUNT], 2
        CHECK32 e, "real-mode-twice"
        ret

; ---- long mode and compatibility mode ----
bits 64
lm64:
        mov ecx, 0xC0000080
        rdmsr
        test eax, 0x400
        setnz [R64_LMA]
        mov rax, 0x123456789
        shr rax, 32
        cmp eax, 1
        sete [R64_OP]
        mov ax, cs
        cmp ax, KCODE64
        sete [R64_CS]
        jmp far dword [rel compat_ptr]           ; m16:32
compat_ptr:
        dd compat32
        dw KCODE32

bits 32
compat32:
        mov ecx, 0xC0000080
        rdmsr
        test eax, 0x400
        setnz [RC_LMA]
        mov ax, cs
        cmp ax, KCODE32
        sete [RC_CS]
        mov eax, 0xFFFFFFFF                      ; 32-bit wrap-around
        add eax, 2
        cmp eax, 1
        sete [RC_OP]
        mov eax, cr0                             ; leave long mode: paging off
        and eax, 0x7FFFFFFF
        mov cr0, eax
        jmp .off
.off:
        mov ecx, 0xC0000080
        rdmsr
        test eax, 0x400
        setz [ROFF_LMA]
        and eax, ~0x100                          ; LME off
        wrmsr
        mov eax, cr0
        test eax, 0x80000000
        setz [ROFF_PG]
        jmp pm_after_long

; ---- 16-bit code, copied to LOWCODE ----
bits 16
rm_start:
rm16:                                            ; 16-bit protected mode, CS base 0
        mov ax, KDATA16
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, cr0
        and eax, ~1
        mov cr0, eax
        jmp 0:LOW(rm_real)
rm_real:
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7000
        o32 lidt [IDTR_LOW]
        mov eax, cr0
        test al, 1
        setz [R_PE]
        mov ax, 0x0800                           ; 0x0800:0x07E0 is physical 0x87E0
        mov ds, ax
        mov byte [0x07E0], 0x5A
        xor ax, ax
        mov ds, ax
        cmp byte [0x87E0], 0x5A
        sete [R_SEG]
        mov word [0x40 * 4], LOW(rm_isr)
        mov word [0x40 * 4 + 2], 0
        mov byte [R_INT], 0
        mov byte [R_IVT], 0
        int 0x40
.after_int:
        ; exceptions through the IVT: IP of the faulting instruction, no error code
        mov word [0 * 4], LOW(rm_exc)
        mov word [6 * 4], LOW(rm_exc)
        mov word [13 * 4], LOW(rm_exc)
        mov word [0 * 4 + 2], 0
        mov word [6 * 4 + 2], 0
        mov word [13 * 4 + 2], 0
        mov byte [R_DE], 0
        mov byte [R_GP], 0
        mov byte [R_UD], 0
        mov [R_SP], sp
        mov word [LOW(rm_exc_expect)], LOW(rm_real.de)
        mov word [LOW(rm_exc_flag)], R_DE
        xor cx, cx
.de:    div cx                                   ; 2 bytes
        mov word [LOW(rm_exc_expect)], LOW(rm_real.gp)
        mov word [LOW(rm_exc_flag)], R_GP
.gp:    mov ax, [0xFFFF]                         ; past the 64 KiB limit; 3 bytes
        nop
        mov word [LOW(rm_exc_expect)], LOW(rm_real.ud)
        mov word [LOW(rm_exc_flag)], R_UD
.ud:    ud2                                      ; 2 bytes
        mov eax, 0x12345678
        ror eax, 16
        cmp eax, 0x56781234
        sete [R_OP32]
        mov ax, cs
        test ax, ax
        sete [R_CS]
        inc byte [R_COUNT]
        o32 lgdt [GDTR_LOW]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp far dword [PM_RET]
rm_exc:                                          ; frame: IP, CS, FLAGS (no error code)
        mov bp, sp
        lea ax, [bp + 6]
        cmp ax, [R_SP]
        jne .skip
        mov ax, [LOW(rm_exc_expect)]
        cmp [bp], ax
        jne .skip
        cmp word [bp + 2], 0
        jne .skip
        mov bx, [LOW(rm_exc_flag)]
        mov byte [bx], 1
.skip:
        add word [bp], 2                         ; past DIV CX / UD2 (and into MOV's NOP)
        cmp word [LOW(rm_exc_flag)], R_GP
        jne .out
        inc word [bp]
.out:
        iret
rm_exc_expect dw 0
rm_exc_flag   dw 0
rm_isr:                                          ; frame: IP, CS, FLAGS
        mov byte [R_INT], 1
        mov bp, sp
        cmp word [bp], LOW(rm_real.after_int)
        jne .bad
        cmp word [bp + 2], 0
        jne .bad
        mov byte [R_IVT], 1
.bad:
        iret
rm_end:

align 16
image_end:
