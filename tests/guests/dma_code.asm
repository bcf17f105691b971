; dma_code: code that a device writes into guest RAM runs as the new code.
;
; The guest drives a virtio-blk device (legacy interface, polled, one request at a time) whose
; disk holds two 512-byte sectors of code: sector 0 is "mov eax, 0xA1; ret", sector 1
; "mov eax, 0xB2; ret" (tests/test_dma_code.py writes the image).  Two functions of its own,
; each at the start of a 4 KiB page, return 0x11 and 0x22.  For each it calls the function
; (the CPU decodes it), has the device read a sector over it, and calls it again:
;   dma-code-page  sector 0 over func_a, in a page that only holds func_a;
;   dma-code-busy  sector 1 over func_b, whose page also holds blk_read, the loop that waits
;                  for the device: the page is being executed while the device writes it.
; Each reports "dma: <name> ran XXXXXXXX memory XX" and ok/FAIL (ran must be the new value).
%include "plat_common.inc"

PCI_CFG     equ 0x80000000
VT_HOSTF    equ 0x00                      ; legacy virtio registers (BAR 0, I/O)
VT_GUESTF   equ 0x04
VT_QPFN     equ 0x08
VT_QSIZE    equ 0x0C
VT_QSEL     equ 0x0E
VT_QNOTIFY  equ 0x10
VT_STATUS   equ 0x12
VT_ISR      equ 0x13
RING        equ 0x300000                  ; the queue's rings (page aligned, up to 64 KiB)
REQ_HDR     equ 0x320000                  ; virtio_blk_outhdr {type, reserved, sector}
REQ_STATUS  equ 0x320100
DESC_WRITE  equ 2
DESC_NEXT   equ 1

main:
        call vtblk_find
        test eax, eax
        jnz .found
        SAY "dma: no virtio-blk device FAIL"
        ret
.found:
        call vtblk_init
        call func_a                         ; decode the old code
        cmp eax, 0x11
        FAILIF ne, "dma-code-old-a"
        mov eax, 0                          ; sector 0 over func_a
        mov edi, func_a
        call blk_read
        call func_a
        mov esi, msg_page
        mov ebx, func_a
        mov ecx, 0xA1
        call report
        call func_b
        cmp eax, 0x22
        FAILIF ne, "dma-code-old-b"
        mov eax, 1                          ; sector 1 over func_b, while blk_read runs there
        mov edi, func_b
        call blk_read
        call func_b
        mov esi, msg_busy
        mov ebx, func_b
        mov ecx, 0xB2
        call report
        ret

; report: esi = name, eax = what the function returned, ebx = the function, ecx = expected.
; (puts advances esi, so the name is kept in ebp.)
report:
        mov ebp, esi
        mov edi, eax
        mov esi, msg_dma
        call puts
        mov esi, ebp
        call puts
        mov esi, msg_ran
        call puts
        mov eax, edi
        call puthex
        mov esi, msg_mem
        call puts
        movzx eax, byte [ebx + 1]           ; the immediate of "mov eax, imm32" in RAM
        call puthex
        mov esi, msg_nl
        call puts
        mov esi, msg_dma
        call puts
        mov esi, ebp
        call puts
        mov esi, msg_ok
        cmp edi, ecx
        je .say
        mov esi, msg_fail
        inc dword [failures]
.say:
        call puts
        ret

; vtblk_find: scan bus 0 for vendor 0x1AF4 device 0x1001 -> eax = CF8 address of it, or 0.
vtblk_find:
        mov ecx, 0
.slot:
        mov eax, ecx
        shl eax, 11
        or eax, PCI_CFG
        push eax
        call cfg_rd
        cmp eax, 0x10011AF4
        pop eax
        je .yes
        inc ecx
        cmp ecx, 32
        jb .slot
        xor eax, eax
.yes:
        ret

; vtblk_init: eax = CF8 address of the function.  I/O and bus mastering on, legacy reset,
; ACKNOWLEDGE | DRIVER, no features, queue 0 at RING, DRIVER_OK.
vtblk_init:
        mov [pci_addr], eax
        or eax, 0x10
        call cfg_rd
        and eax, 0xFFFC
        mov [iobase], eax
        mov eax, [pci_addr]
        or eax, 0x04
        mov ebx, 0x0005
        call cfg_wr
        mov edx, [iobase]
        add edx, VT_STATUS
        mov al, 0
        out dx, al
        mov al, 3
        out dx, al
        mov edx, [iobase]
        add edx, VT_GUESTF
        xor eax, eax
        out dx, eax
        mov edx, [iobase]
        add edx, VT_QSEL
        xor eax, eax
        out dx, ax
        mov edx, [iobase]
        add edx, VT_QSIZE
        in ax, dx
        movzx eax, ax
        mov [qsize], eax
        ; used ring offset: (16 * size + 6 + 2 * size) rounded up to 4 KiB
        imul ebx, eax, 18
        add ebx, 6 + 4095
        and ebx, ~4095
        add ebx, RING
        mov [used], ebx
        mov edi, RING                        ; clear 64 KiB of ring memory
        mov ecx, 65536 / 4
        xor eax, eax
        rep stosd
        mov edx, [iobase]
        add edx, VT_QPFN
        mov eax, RING >> 12
        out dx, eax
        mov edx, [iobase]
        add edx, VT_STATUS
        mov al, 7
        out dx, al
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

msg_dma     db "dma: ", 0
msg_page    db "dma-code-page", 0
msg_busy    db "dma-code-busy", 0
msg_ran     db " ran ", 0
msg_mem     db " memory ", 0
msg_ok      db " ok", 10, 0
msg_fail    db " FAIL", 10, 0
align 4
pci_addr    dd 0
iobase      dd 0
qsize       dd 0
used        dd 0
avail_idx   dd 0

; ---- the two pages whose code the device overwrites ----

align 4096
func_a:
        mov eax, 0x11
        ret

align 4096
func_b:
        mov eax, 0x22
        ret
        times 512 - ($ - func_b) db 0xCC    ; the sector the device writes ends here

; blk_read: read sector eax into the 512 bytes at edi, wait for the device (this loop runs in
; func_b's page on purpose).  Three descriptors: header (read), data (write), status (write).
blk_read:
        pushad
        mov dword [REQ_HDR], 0              ; VIRTIO_BLK_T_IN
        mov dword [REQ_HDR + 4], 0
        mov [REQ_HDR + 8], eax
        mov dword [REQ_HDR + 12], 0
        mov byte [REQ_STATUS], 0xFF
        mov dword [RING + 0], REQ_HDR       ; desc 0
        mov dword [RING + 4], 0
        mov dword [RING + 8], 16
        mov word [RING + 12], DESC_NEXT
        mov word [RING + 14], 1
        mov [RING + 16], edi                ; desc 1
        mov dword [RING + 20], 0
        mov dword [RING + 24], 512
        mov word [RING + 28], DESC_WRITE | DESC_NEXT
        mov word [RING + 30], 2
        mov dword [RING + 32], REQ_STATUS   ; desc 2
        mov dword [RING + 36], 0
        mov dword [RING + 40], 1
        mov word [RING + 44], DESC_WRITE
        mov word [RING + 46], 0
        mov ebx, [qsize]                    ; avail ring at RING + 16 * size
        shl ebx, 4
        add ebx, RING
        mov eax, [avail_idx]
        mov ecx, [qsize]
        dec ecx
        and ecx, eax
        mov word [ebx + 4 + ecx * 2], 0     ; ring[idx % size] = head 0
        inc eax
        mov [avail_idx], eax
        mov [ebx + 2], ax                   ; avail->idx
        mov edx, [iobase]
        add edx, VT_QNOTIFY
        xor eax, eax
        out dx, ax
        ; wait until used->idx reaches avail_idx, for about 2^32 * 30 TSC ticks at most
        mov ebx, [used]
        rdtsc
        add edx, 30
        mov esi, edx
.wait:
        movzx eax, word [ebx + 2]
        cmp ax, [avail_idx]
        je .done
        pause
        rdtsc
        cmp edx, esi
        jb .wait
        SAY "dma: device did not answer FAIL"
        inc dword [failures]
.done:
        mov edx, [iobase]
        add edx, VT_ISR                     ; reading the ISR acknowledges the interrupt
        in al, dx
        cmp byte [REQ_STATUS], 0
        FAILIF ne, "dma-blk-status"
        popad
        ret

PLAT_END
