; mb_hello: a Multiboot v1 test kernel (a.out kludge, loaded at 1 MiB).
; It checks the Multiboot entry state, prints a greeting with its command line and the memory
; size from multiboot_info on COM1 (0x3F8), then powers the VM off through ACPI: PM1a control
; (0x404) SLP_TYP = 5 (S5, as the DSDT's \_S5 says) | SLP_EN.  If the VM is still running after
; that it halts with interrupts off (bhyve exit status 2 instead of 1).
bits 32
org 0x100000

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00010003          ; page-aligned modules, memory info, a.out kludge
COM1        equ 0x3F8
PM1A_CNT    equ 0x404
SLP_S5      equ (5 << 10) | (1 << 13)

mb_header:
        dd MB_MAGIC
        dd MB_FLAGS
        dd -(MB_MAGIC + MB_FLAGS)
        dd mb_header                ; header_addr
        dd mb_header                ; load_addr
        dd 0                        ; load_end_addr: the whole file
        dd bss_end                  ; bss_end_addr
        dd entry                    ; entry_addr

entry:
        mov esp, stack_top
        cmp eax, 0x2BADB002
        jne bad_magic
        mov ebp, ebx                ; multiboot_info
        mov esi, msg_hello
        call puts
        test dword [ebp], 4         ; cmdline present?
        jz .no_cmdline
        mov esi, [ebp + 16]
        call puts
.no_cmdline:
        mov esi, msg_mem
        call puts
        mov eax, [ebp + 8]          ; mem_upper (KiB above 1 MiB)
        shr eax, 10                 ; MiB
        add eax, 1
        call putdec
        mov esi, msg_mib
        call puts
        ; Power off (ACPI S5).
        mov dx, PM1A_CNT
        mov ax, SLP_S5
        out dx, ax
        mov esi, msg_still
        call puts
halt:
        cli
        hlt
        jmp halt

bad_magic:
        mov esi, msg_bad
        call puts
        jmp halt

; Print the NUL-terminated string at ESI, waiting for the transmitter to be empty.
puts:
        lodsb
        test al, al
        jz .done
        mov bl, al
        mov dx, COM1 + 5            ; line status
.wait:
        in al, dx
        test al, 0x20               ; THRE
        jz .wait
        mov al, bl
        mov dx, COM1
        out dx, al
        jmp puts
.done:
        ret

; Print EAX in decimal.
putdec:
        mov edi, numbuf + 11
        mov byte [edi], 0
        mov ecx, 10
.next:
        xor edx, edx
        div ecx
        add dl, '0'
        dec edi
        mov [edi], dl
        test eax, eax
        jnz .next
        mov esi, edi
        jmp puts

msg_hello   db "mb_hello: multiboot ok, cmdline: ", 0
msg_mem     db 10, "mb_hello: memory ", 0
msg_mib     db " MiB", 10, "mb_hello: powering off", 10, 0
msg_still   db "mb_hello: still running after S5, halting", 10, 0
msg_bad     db "mb_hello: bad multiboot magic", 10, 0
numbuf      times 12 db 0

align 16
image_end:
stack_bottom equ image_end
stack_top    equ image_end + 4096
bss_end      equ stack_top
