; fw_tables: what a guest finds of bhyve's firmware tables and PCI bus, the way an OS looks.
;   - ACPI: "RSD PTR " on a 16-byte boundary in 0xE0000-0xFFFFF, both RSDP checksums, the
;     XSDT and every table it lists, the DSDT through the FADT; counts the MADT's processors;
;   - MP table: "_MP_", its checksum, the "PCMP" configuration table and its checksum;
;   - SMBIOS: "_SM_" and "_DMI_" checksums;
;   - PCI: configuration mechanism #1 and ECAM agree on the host bridge (0:0.0) and the LPC
;     bridge (0:31.0), an empty slot reads all ones, and the I/O BAR of the virtio device at
;     0:3.0 sizes, decodes and answers.
; Lines: "plat: <part> ok" / "fw: <part> absent" / "plat: <part> FAIL" (tests/test_fw_guest.py).
%include "plat_common.inc"

; sum8: esi = start, ecx = length (> 0) -> al = byte sum.  Clobbers esi, ecx.
sum8:
        xor eax, eax
.l:     add al, [esi]
        inc esi
        dec ecx
        jnz .l
        ret

; scan: a 16-byte aligned signature in the BIOS area; eax = first dword, edx = second dword
; (0: match on eax alone) -> esi = where, or 0.
scan:
        mov esi, 0xE0000
.l:     cmp [esi], eax
        jne .n
        test edx, edx
        jz .f
        cmp [esi + 4], edx
        je .f
.n:     add esi, 16
        cmp esi, 0x100000
        jb .l
        xor esi, esi
.f:     ret

; cfg_rd: eax = CF8 address -> eax = dword at 0xCFC.
cfg_rd:
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        ret

; cfg_wr: eax = CF8 address, ebx = value.
cfg_wr:
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        mov eax, ebx
        out dx, eax
        ret

; table_ok: esi = an ACPI table -> ZF set if its checksum is right.  Keeps esi.
table_ok:
        push esi
        mov ecx, [esi + 4]
        call sum8
        pop esi
        test al, al
        ret

check_acpi:
        mov eax, 'RSD '
        mov edx, 'PTR '
        call scan
        test esi, esi
        jnz .found
        SAY "fw: acpi absent"
        ret
.found:
        mov ebx, esi
        mov ecx, 20
        call sum8
        test al, al
        FAILIF nz, "acpi-rsdp-checksum"
        mov esi, ebx
        mov ecx, 36
        call sum8
        test al, al
        FAILIF nz, "acpi-rsdp-ext-checksum"
        mov esi, [ebx + 24]                     ; XSDT (below 4 GiB here)
        cmp dword [esi], 'XSDT'
        FAILIF ne, "acpi-xsdt"
        call table_ok
        FAILIF nz, "acpi-xsdt-checksum"
        mov edi, esi
        mov ecx, [edi + 4]
        sub ecx, 36
        shr ecx, 3
        mov [scratch], ecx                      ; number of tables
        mov dword [scratch + 4], 0              ; index
.next:
        mov ecx, [scratch + 4]
        cmp ecx, [scratch]
        jae .done
        mov esi, [edi + 36 + ecx * 8]
        call table_ok
        FAILIF nz, "acpi-table-checksum"
        cmp dword [esi], 'FACP'
        jne .not_fadt
        push esi
        mov esi, [esi + 140]                    ; X_DSDT
        cmp dword [esi], 'DSDT'
        FAILIF ne, "acpi-dsdt"
        call table_ok
        FAILIF nz, "acpi-dsdt-checksum"
        pop esi
        inc dword [scratch + 8]
.not_fadt:
        cmp dword [esi], 'APIC'
        jne .not_madt
        call count_lapics
.not_madt:
        inc dword [scratch + 4]
        jmp .next
.done:
        cmp dword [scratch + 8], 1
        FAILIF ne, "acpi-fadt"
        PASS "acpi"
        mov esi, msg_cpus
        call puts
        mov eax, [scratch + 12]
        call puthex
        mov esi, msg_nl
        call puts
        ret

; count_lapics: esi = MADT -> [scratch + 12] = number of Processor Local APIC entries.
count_lapics:
        push esi
        mov ecx, [esi + 4]
        add ecx, esi                            ; end
        add esi, 44
.l:     cmp esi, ecx
        jae .e
        cmp byte [esi], 0
        jne .n
        inc dword [scratch + 12]
.n:     movzx eax, byte [esi + 1]
        test eax, eax
        jz .e
        add esi, eax
        jmp .l
.e:     pop esi
        ret

check_mptable:
        mov eax, '_MP_'
        xor edx, edx
        call scan
        test esi, esi
        jnz .found
        SAY "fw: mptable absent"
        ret
.found:
        mov ebx, esi
        mov ecx, 16
        call sum8
        test al, al
        FAILIF nz, "mptable-fps-checksum"
        mov esi, [ebx + 4]
        cmp dword [esi], 'PCMP'
        FAILIF ne, "mptable-pcmp"
        movzx ecx, word [esi + 4]
        call sum8
        test al, al
        FAILIF nz, "mptable-checksum"
        PASS "mptable"
        ret

check_smbios:
        mov eax, '_SM_'
        xor edx, edx
        call scan
        test esi, esi
        jnz .found
        SAY "fw: smbios absent"
        ret
.found:
        mov ebx, esi
        movzx ecx, byte [esi + 5]
        call sum8
        test al, al
        FAILIF nz, "smbios-checksum"
        cmp dword [ebx + 16], '_DMI'
        FAILIF ne, "smbios-dmi"
        lea esi, [ebx + 16]
        mov ecx, 15
        call sum8
        test al, al
        FAILIF nz, "smbios-dmi-checksum"
        PASS "smbios"
        ret

PCI_SLOT3   equ 0x80000000 | (3 << 11)

check_pci:
        mov eax, 0x80000000                     ; 0:0.0 host bridge
        call cfg_rd
        cmp eax, 0x12751275
        FAILIF ne, "pci-hostbridge"
        mov eax, 0x80000000 | (31 << 11)        ; 0:31.0 LPC bridge
        call cfg_rd
        cmp eax, 0x70008086
        FAILIF ne, "pci-lpc"
        mov eax, 0x80000000 | (7 << 11)         ; nobody at 0:7.0
        call cfg_rd
        cmp eax, 0xFFFFFFFF
        FAILIF ne, "pci-empty"
        mov eax, 0x80000008 | (31 << 11)        ; class dword of the LPC bridge
        call cfg_rd
        shr eax, 16
        cmp eax, 0x0601
        FAILIF ne, "pci-lpc-class"
        PASS "pci-cf8"
        cmp dword [0xE0000000], 0x12751275      ; ECAM: bus 0, device 0
        FAILIF ne, "pci-ecam-hostbridge"
        cmp dword [0xE0000000 + (31 << 15)], 0x70008086
        FAILIF ne, "pci-ecam-lpc"
        cmp dword [0xE0000000 + (7 << 15)], 0xFFFFFFFF
        FAILIF ne, "pci-ecam-empty"
        PASS "pci-ecam"
        ; The virtio device at 0:3.0: size its I/O BAR 0, decode it, read its status.
        mov eax, PCI_SLOT3
        call cfg_rd
        cmp ax, 0x1AF4
        jne .no_virtio
        mov eax, PCI_SLOT3 | 0x10
        call cfg_rd
        mov [scratch + 16], eax                 ; the address the bus gave it
        test eax, 1
        FAILIF z, "pci-bar-io"
        mov eax, PCI_SLOT3 | 0x04               ; decode off while sizing
        xor ebx, ebx
        call cfg_wr
        mov eax, PCI_SLOT3 | 0x10
        mov ebx, 0xFFFFFFFF
        call cfg_wr
        mov eax, PCI_SLOT3 | 0x10
        call cfg_rd
        mov ebx, eax
        and ebx, 0xFFFF001F
        cmp ebx, 0xFFFF0001                     ; at least 32 ports, I/O
        FAILIF ne, "pci-bar-size"
        mov eax, PCI_SLOT3 | 0x10
        mov ebx, 0x6000
        call cfg_wr
        mov eax, PCI_SLOT3 | 0x04
        mov ebx, 1                              ; I/O decode on
        call cfg_wr
        mov dx, 0x6000 + 0x12                   ; legacy virtio device status: reset = 0
        in al, dx
        cmp al, 0
        FAILIF ne, "pci-bar-decode"
        mov dx, 0x6000                          ; host features: something, not floating
        in eax, dx
        cmp eax, 0xFFFFFFFF
        FAILIF e, "pci-bar-features"
        mov eax, PCI_SLOT3 | 0x04
        xor ebx, ebx                            ; decode off: the ports float again
        call cfg_wr
        mov dx, 0x6000 + 0x12
        in al, dx
        cmp al, 0xFF
        FAILIF ne, "pci-bar-undecoded"
        PASS "pci-bar"
.no_virtio:
        ret

main:
        call check_acpi
        call check_mptable
        call check_smbios
        call check_pci
        ret

msg_cpus    db "fw: madt-cpus ", 0

PLAT_END
