; hostile_decode: a guest that turns a PCI device's I/O and memory decoding off and on 10^6
; times.  Every toggle makes bhyve unregister and re-register the device's BARs; the VM core
; must free the registry entries it replaces, so bhyve's resident memory stays flat.
; It prints "hostile: mark N" after each 10^5 toggles (tests/test_security.py samples bhyve's
; resident memory there), then "plat: done" and powers off (exit status 1).
%include "plat_common.inc"

PCI_CFG     equ 0x80000000
TOGGLES     equ 1000000
MARK_EVERY  equ 100000

main:
        call find_dev
        test eax, eax
        jnz .found
        SAY "hostile: no virtio device FAIL"
        ret
.found:
        or eax, 0x04                        ; the command register
        mov [cmd_addr], eax
        xor edi, edi                        ; toggles done
.loop:
        mov eax, [cmd_addr]
        xor ebx, ebx                        ; decoding off
        call cfg_wr
        mov eax, [cmd_addr]
        mov ebx, 0x0007                     ; I/O, memory, bus master on
        call cfg_wr
        inc edi
        mov eax, edi
        xor edx, edx
        mov ecx, MARK_EVERY
        div ecx
        test edx, edx
        jnz .next
        push eax
        mov esi, msg_mark
        call puts
        pop eax
        call puthex
        mov esi, msg_eol
        call puts
.next:
        cmp edi, TOGGLES
        jb .loop
        ret

; find_dev: the first function on bus 0 with vendor 0x1AF4 -> eax = its CF8 address, or 0.
find_dev:
        mov ecx, 0
.slot:
        mov eax, ecx
        shl eax, 11
        or eax, PCI_CFG
        push eax
        call cfg_rd
        cmp ax, 0x1AF4
        pop eax
        je .yes
        inc ecx
        cmp ecx, 32
        jb .slot
        xor eax, eax
.yes:
        ret

cfg_rd:
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        ret

cfg_wr:
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        mov eax, ebx
        out dx, eax
        ret

msg_mark    db "hostile: mark ", 0
msg_eol     db 10, 0
align 4
cmd_addr    dd 0

PLAT_END
