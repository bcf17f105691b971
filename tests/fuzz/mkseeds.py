#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/<name>.

Each device seed is a small, well-formed guest program in the record format of fuzz_dev.h
(a driver bringing the device up and issuing a request or two), so the fuzzer starts from
inputs that reach deep into the device and mutates from there.  Run it again after changing
a seed: `python3 tests/fuzz/mkseeds.py` (the files are committed)."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
WRITE, READ, CFGW, CFGR, RAM, TIME, WAIT, FILL = range(8)
SIZES = {1: 0, 2: 1, 4: 2, 8: 3}


class Prog:
    """A guest program: register accesses through windows, RAM contents, time."""

    def __init__(self):
        self.b = bytearray()

    def op(self, kind, win=0, size=4):
        self.b.append(kind | SIZES[size] << 3 | (win & 7) << 5)

    def w(self, win, off, val, size=4):
        self.op(WRITE, win, size)
        self.b += struct.pack('<IQ', off, val & (1 << 64) - 1)
        return self

    def r(self, win, off, size=4):
        self.op(READ, win, size)
        self.b += struct.pack('<I', off)
        return self

    def cfgw(self, win, reg, val, size=4):
        self.op(CFGW, win, size)
        self.b += struct.pack('<HI', reg, val & 0xFFFFFFFF)
        return self

    def cfgr(self, win, reg, size=4):
        self.op(CFGR, win, size)
        self.b += struct.pack('<H', reg)
        return self

    def ram(self, gpa, data):
        for i in range(0, len(data), 255):
            chunk = data[i:i + 255]
            self.op(RAM)
            self.b += struct.pack('<IB', gpa + i, len(chunk)) + bytes(chunk)
        return self

    def fill(self, gpa, n, byte):
        self.op(FILL)
        self.b += struct.pack('<IHB', gpa, n, byte)
        return self

    def time(self, ms):
        self.op(TIME)
        self.b.append(ms)
        return self

    def wait(self, n=1):
        for _ in range(n):
            self.op(WAIT)
        return self


def save(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(bytes(data))


def desc(addr, length, flags=0, nxt=0):
    return struct.pack('<QIHH', addr, length, flags, nxt)


# ---- virtio (windows: 0 legacy I/O BAR, 1 MSI-X BAR, 2 modern BAR) ----
DESC, AVAIL, USED, BUF = 0x100000, 0x101000, 0x102000, 0x110000
NEXT, WRITABLE, INDIRECT = 1, 2, 4


def vt_modern(p, queues, qsize=16, features_lo=0):
    st = 0x14
    p.w(2, st, 0, 1).w(2, st, 3, 1)                      # ACK | DRIVER
    p.w(2, 0x00, 0).r(2, 0x04).w(2, 0x00, 1).r(2, 0x04)
    p.w(2, 0x08, 0).w(2, 0x0C, features_lo).w(2, 0x08, 1).w(2, 0x0C, 1)   # VERSION_1
    p.w(2, st, 0x0B, 1).r(2, st, 1)
    for q in queues:
        base = 0x10000 * q
        p.w(2, 0x16, q, 2).r(2, 0x18, 2).w(2, 0x18, qsize, 2)
        p.w(2, 0x20, DESC + base, 8).w(2, 0x28, AVAIL + base, 8).w(2, 0x30, USED + base, 8)
        p.w(2, 0x1A, 0xFFFF, 2).w(2, 0x1C, 1, 2)
    p.w(2, 0x10, 0xFFFF, 2).w(2, st, 0x0F, 1)


def vt_legacy(p, queues):
    p.w(0, 0x12, 0, 1).w(0, 0x12, 3, 1).r(0, 0x00).w(0, 0x04, 0)
    for q in queues:
        p.w(0, 0x0E, q, 2).r(0, 0x0C, 2)
        p.w(0, 0x08, (DESC + 0x10000 * q) >> 12)
    p.w(0, 0x12, 7, 1)


def vt_chain(p, q, descs, head=0, idx=1, legacy=False, qsize=16):
    """Descriptors at the queue's table, one avail entry, a notify."""
    base = DESC + 0x10000 * q
    p.ram(base, b''.join(descs))
    avail = base + 16 * qsize if legacy else AVAIL + 0x10000 * q
    p.ram(avail, struct.pack('<HHH', 0, idx, head))
    if legacy:
        p.w(0, 0x10, q, 2)
    else:
        p.w(2, 0x3000 + 4 * q, q, 2)
    p.wait(3)


def virtio_seeds(target, reqs):
    """reqs: (queue, [descriptors], extra RAM [(gpa, bytes)]) issued after set-up."""
    queues = sorted({q for q, _, _ in reqs})
    for mode in ('modern', 'legacy'):
        p = Prog()
        if mode == 'modern':
            vt_modern(p, queues, features_lo=1 << 28)
        else:
            vt_legacy(p, queues)
        for i, (q, ds, extra) in enumerate(reqs):
            for gpa, data in extra:
                p.ram(gpa, data)
            vt_chain(p, q, ds, legacy=mode == 'legacy',
                     qsize=16 if mode == 'modern' else 256 if target != 'virtio_rnd' else 64)
        p.r(0, 0x13, 1).r(2, 0x1000, 1)                  # ISR
        save(target, mode, p.b)
    # An indirect table and a zero-length descriptor in the first request.
    q, ds, extra = reqs[0]
    p = Prog()
    vt_modern(p, queues, features_lo=1 << 28)
    for gpa, data in extra:
        p.ram(gpa, data)
    p.ram(0x120000, b''.join(ds))
    vt_chain(p, q, [desc(0x120000, 16 * len(ds), INDIRECT)])
    save(target, 'indirect', p.b)
    # MSI-X table entry and a device-config read.
    p = Prog()
    p.w(1, 0, 0xFEE00000).w(1, 4, 0).w(1, 8, 0x41).w(1, 12, 0)
    vt_modern(p, queues)
    for off in range(0, 0x20, 4):
        p.r(2, 0x2000 + off)
    save(target, 'msix-config', p.b)


def seeds_virtio():
    hdr = BUF
    blk_w = struct.pack('<IIQ', 1, 0, 2)
    blk_r = struct.pack('<IIQ', 0, 0, 2)
    virtio_seeds('virtio_blk', [
        (0, [desc(hdr, 16, NEXT, 1), desc(BUF + 0x1000, 512, NEXT, 2),
             desc(BUF + 0x3000, 1, WRITABLE)], [(hdr, blk_w), (BUF + 0x1000, b'\x5a' * 64)]),
        (0, [desc(hdr + 0x100, 16, NEXT, 1), desc(BUF + 0x2000, 512, NEXT | WRITABLE, 2),
             desc(BUF + 0x3000, 1, WRITABLE)], [(hdr + 0x100, blk_r)]),
    ])
    frame = b'\xff' * 6 + b'\x52\x54\x00\x12\x34\x56' + b'\x08\x00' + bytes(46)
    virtio_seeds('virtio_net', [
        (1, [desc(BUF, 12, NEXT, 1), desc(BUF + 0x100, len(frame))],
         [(BUF, bytes(12)), (BUF + 0x100, frame)]),
        (0, [desc(BUF + 0x1000, 1526, WRITABLE)], []),
        (2, [desc(BUF + 0x2000, 2, NEXT, 1), desc(BUF + 0x2100, 1, NEXT, 2),
             desc(BUF + 0x2200, 1, WRITABLE)], [(BUF + 0x2000, b'\x00\x00'), (BUF + 0x2100, b'\x01')]),
    ])
    virtio_seeds('virtio_rnd', [(0, [desc(BUF, 64, WRITABLE)], [])])
    virtio_seeds('virtio_console', [
        (1, [desc(BUF, 5)], [(BUF, b'hello')]),
        (0, [desc(BUF + 0x1000, 64, WRITABLE)], []),
        (3, [desc(BUF + 0x2000, 8)], [(BUF + 0x2000, struct.pack('<IHH', 0, 0, 1))]),
        (2, [desc(BUF + 0x3000, 64, WRITABLE)], []),
    ])
    cdb_inq = bytes([0x12, 0, 0, 0, 36, 0]) + bytes(26)
    cdb_rd = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]) + bytes(22)
    lun = bytes([1, 0, 0x40, 0, 0, 0, 0, 0])

    def scsi_req(tag, cdb):
        return lun + struct.pack('<QBBB', tag, 0, 0, 0) + cdb

    virtio_seeds('virtio_scsi', [
        (2, [desc(BUF, 51, NEXT, 1), desc(BUF + 0x100, 108, NEXT | WRITABLE, 2),
             desc(BUF + 0x200, 36, WRITABLE)], [(BUF, scsi_req(1, cdb_inq))]),
        (2, [desc(BUF + 0x1000, 51, NEXT, 1), desc(BUF + 0x1100, 108, NEXT | WRITABLE, 2),
             desc(BUF + 0x1200, 512, WRITABLE)], [(BUF + 0x1000, scsi_req(2, cdb_rd))]),
        (0, [desc(BUF + 0x2000, 19, NEXT, 1), desc(BUF + 0x2100, 1, WRITABLE)],
         [(BUF + 0x2000, struct.pack('<II', 0, 0) + lun[:8] + bytes(3))]),
    ])


def seeds_ring():
    for name, feat, chain in (
            ('simple', 0, [desc(0x18000, 64, NEXT, 1), desc(0x18100, 64, WRITABLE)]),
            ('indirect', 1, [desc(0x19000, 32, INDIRECT)]),
            ('event-idx', 3, [desc(0x18000, 0, NEXT, 1), desc(0x18100, 8, WRITABLE)])):
        hdr = struct.pack('<BBHHHBBIH', feat, 4, 0x0000, 0x1000, 0x2000, 4, 8, 64, 16)
        ram = bytearray(0xA000)
        d = b''.join(chain)
        ram[0:len(d)] = d
        ram[0x1000:0x1006] = struct.pack('<HHH', 0, 1, 0)
        ram[0x9000:0x9020] = desc(0x18000, 16, NEXT, 1) + desc(0x18200, 16, WRITABLE)
        save('virtio_ring', name, hdr + bytes(ram[:0x1010]) if feat != 1 else hdr + bytes(ram))


# ---- storage and network controllers (window 0: their register BAR) ----
def seeds_ahci():
    CLB, FB, CT, B = 0x100000, 0x101000, 0x102000, 0x200000
    for name, cmd, write, lba, count, nprd in (('identify', 0xEC, 0, 0, 0, 1),
                                               ('write-dma', 0x35, 1, 16, 8, 2),
                                               ('atapi', 0xA0, 0, 0, 0, 1),
                                               ('trim', 0x06, 1, 0, 1, 1)):
        port = 1 if cmd == 0xA0 else 0
        pb = 0x100 + 0x80 * port
        p = Prog()
        p.w(0, 0x04, 1 << 31 | 2)
        p.w(0, pb + 0x18, 0).w(0, pb + 0x00, CLB).w(0, pb + 0x04, 0)
        p.w(0, pb + 0x08, FB).w(0, pb + 0x0C, 0).w(0, pb + 0x30, 0xFFFFFFFF)
        p.w(0, pb + 0x10, 0xFFFFFFFF).w(0, pb + 0x14, 0xFFFFFFFF)
        p.w(0, pb + 0x18, 0x10).w(0, pb + 0x18, 0x11)
        hdr = struct.pack('<IIII', 5 | write << 6 | (1 << 5 if cmd == 0xA0 else 0) | nprd << 16,
                          0, CT, 0) + bytes(16)
        fis = bytearray(64)
        fis[0:4] = bytes([0x27, 0x80, cmd, 1 if cmd == 0x06 else 0])
        fis[4:7] = lba.to_bytes(3, 'little')
        fis[7] = 0x40
        fis[12] = count
        acmd = bytes([0x12, 0, 0, 0, 36, 0]) + bytes(10) if cmd == 0xA0 else bytes(16)
        prds = b''.join(struct.pack('<IIII', B + 0x1000 * i, 0, 0, 2048 - 1) for i in range(nprd))
        if cmd == 0x06:
            p.ram(B, struct.pack('<Q', 16 | 8 << 48))
        p.ram(CLB, hdr).ram(CT, bytes(fis) + acmd + bytes(48) + prds)
        p.w(0, pb + 0x38, 1).wait(4).r(0, pb + 0x10).r(0, pb + 0x20).r(0, 0x08)
        save('ahci', name, p.b)


def seeds_nvme():
    ASQ, ACQ, SQ, CQ, B = 0x100000, 0x101000, 0x102000, 0x103000, 0x200000

    def sqe(opc, cid, nsid=0, prp1=0, cdw10=0, cdw11=0, cdw12=0):
        return struct.pack('<BBHIQQQQIIIIII', opc, 0, cid, nsid, 0, 0, prp1, 0,
                           cdw10, cdw11, cdw12, 0, 0, 0)

    p = Prog()
    p.r(0, 0x00, 8).w(0, 0x14, 0).w(0, 0x24, 0x000F000F).w(0, 0x28, ASQ, 8).w(0, 0x30, ACQ, 8)
    p.w(0, 0x14, 0x00460001).time(5).r(0, 0x1C)
    cmds = [sqe(0x06, 1, 0, B, 1), sqe(0x06, 2, 1, B + 0x1000, 0),
            sqe(0x05, 3, 0, CQ, 1 | 15 << 16, 1), sqe(0x01, 4, 0, SQ, 1 | 15 << 16, 1 << 16 | 1),
            sqe(0x09, 5, 0, 0, 7, 0x00010001)]
    p.ram(ASQ, b''.join(cmds))
    p.w(0, 0x1000, len(cmds)).wait(4).r(0, 0x1000 + 4)
    io = [sqe(0x01, 1, 1, B + 0x2000, 0, 0, 0), sqe(0x02, 2, 1, B + 0x3000, 0, 0, 0),
          sqe(0x00, 3, 1)]
    p.ram(SQ, b''.join(io)).w(0, 0x1008, len(io)).wait(4).w(0, 0x100C, 2)
    save('nvme', 'bringup-io', p.b)


def seeds_e1000():
    TD, RD, B = 0x100000, 0x101000, 0x200000
    p = Prog()
    p.w(0, 0x0, 1 << 26).r(0, 0x8).w(0, 0x14, 1).r(0, 0x14).w(0, 0x20, 0x08210000).r(0, 0x20)
    p.w(0, 0x3800, TD).w(0, 0x3804, 0).w(0, 0x3808, 128).w(0, 0x3810, 0).w(0, 0x3818, 0)
    p.w(0, 0x2800, RD).w(0, 0x2804, 0).w(0, 0x2808, 128).w(0, 0x2810, 0).w(0, 0x2818, 7)
    p.w(0, 0x100, 0x0400800A).w(0, 0x400, 0x0103F0FA).w(0, 0xD0, 0x9D)
    frame = b'\xff' * 6 + b'\x52\x54\x00\x12\x34\x56' + b'\x08\x00' + bytes(46)
    ctx = struct.pack('<BBHBBHIBBH', 14, 34, 0, 14 + 20 + 16, 14 + 20 + 18, 0, 0x2D000000 | 54,
                      0, 20, 1460)
    data = struct.pack('<QIBBBBH', B, len(frame), 0, 0x0B, 0, 0, 0)   # legacy EOP|IFCS|RS
    dd = struct.pack('<QII', B, len(frame) | 0x30100000 | 0x0B << 24, 0x00000200)
    p.ram(B, frame).ram(TD, data + ctx + dd).w(0, 0x3818, 3).wait(2).r(0, 0xC0).r(0, 0x3810)
    p.w(1, 0, 0x3818).r(1, 4).w(1, 0, 0x08).r(1, 4)
    save('e1000', 'tx', p.b)


def seeds_xhci():
    DCBAA, CR, ER, ERST, IN, OUT, EP0 = 0x100000, 0x101000, 0x102000, 0x103000, 0x104000, \
        0x105000, 0x106000
    OP, RT, DB = 0x20, 0x1000, 0x2000

    def trb(p0, st, ctl):
        return struct.pack('<QII', p0, st, ctl)

    p = Prog()
    p.r(0, 0x00).r(0, 0x04).r(0, 0x10).w(0, OP + 0x00, 2).time(1)
    p.w(0, OP + 0x38, 8).w(0, OP + 0x30, DCBAA, 8).w(0, OP + 0x18, CR | 1, 8)
    p.ram(ERST, struct.pack('<QII', ER, 16, 0))
    p.w(0, RT + 0x28, 1).w(0, RT + 0x30, ERST, 8).w(0, RT + 0x38, ER, 8).w(0, RT + 0x20, 2)
    p.w(0, OP + 0x00, 5).r(0, OP + 0x04).r(0, OP + 0x400)
    cmds = trb(0, 0, 9 << 10 | 1) + trb(IN, 0, 11 << 10 | 1 << 24 | 1) + \
        trb(CR, 0, 6 << 10 | 2 | 1)
    ictx = bytearray(0x1000)
    ictx[4:8] = struct.pack('<I', 3)
    ictx[0x20:0x24] = struct.pack('<I', 1 << 27)
    ictx[0x24:0x28] = struct.pack('<I', 1 << 16)
    ictx[0x40:0x54] = struct.pack('<IIQI', 0, 3 << 1 | 4 << 3 | 8 << 16, EP0 | 1, 8)
    p.ram(IN, bytes(ictx[:0x60])).ram(DCBAA, struct.pack('<QQ', 0, OUT)).ram(CR, cmds)
    p.w(0, DB, 0).wait(2).time(1)
    setup = struct.pack('<BBHHH', 0x80, 6, 0x0100, 0, 18)
    ep0 = trb(int.from_bytes(setup, 'little'), 8, 2 << 10 | 1 << 6 | 3 << 16 | 1) + \
        trb(0x200000, 18, 3 << 10 | 1 << 16 | 1) + trb(0, 0, 4 << 10 | 1 << 5 | 1)
    p.ram(EP0, ep0).w(0, DB + 4, 1).wait(2).time(1).r(0, RT + 0x20)
    save('xhci', 'enable-address-getdesc', p.b)


# ---- platform devices ----
def seeds_platform():
    p = Prog()
    for reg in range(0, 0x40, 7):
        p.w(0, 0, reg, 1).r(0, 1, 1)
    p.w(0, 0, 0x0B, 1).w(0, 1, 0x62, 1).w(0, 0, 0x0A, 1).w(0, 1, 0x26, 1)
    p.w(0, 0, 0x01, 1).w(0, 1, 0x30, 1).w(0, 0, 0x0C, 1).time(100).r(0, 1, 1)
    save('rtc', 'periodic-alarm', p.b)
    p = Prog()
    for mode in range(6):
        p.w(0, 3, 0x30 | mode << 1, 1).w(0, 0, 0x34, 1).w(0, 0, 0x12, 1).time(2)
        p.w(0, 3, 0x00, 1).r(0, 0, 1).r(0, 0, 1)
    p.w(0, 3, 0xB6, 1).w(0, 2, 0xFF, 1).w(0, 2, 0x00, 1).w(1, 0, 3, 1).time(5).r(1, 0, 1)
    p.w(0, 3, 0xE2, 1).r(0, 0, 1).r(0, 0, 1)
    save('pit', 'modes', p.b)
    p = Prog()
    p.r(0, 0x00, 8).w(0, 0x10, 3, 8).w(0, 0x100, 0x4C, 8).w(0, 0x108, 1000, 8)
    p.w(0, 0x120, 0x4 | 2 << 9, 8).w(0, 0x128, 50000, 8).time(10).r(0, 0xF0, 8).r(0, 0x20, 8)
    p.w(0, 0x20, 0xFF, 8).w(0, 0x140, 0x4004, 8).w(0, 0x150, 0xFEE00000 | 0x41 << 32, 8)
    save('hpet', 'timers', p.b)
    p = Prog()
    for pin in (0, 2, 9, 23):
        p.w(0, 0, 0x10 + 2 * pin).w(0, 0x10, 0x8030 + pin).w(0, 0, 0x11 + 2 * pin).w(0, 0x10, 0)
    p.w(0, 0, 0).r(0, 0x10).w(0, 0, 1).r(0, 0x10).w(1, 0, 0x30)
    save('ioapic', 'rtes', p.b)
    p = Prog()
    p.w(0, 0xF0, 0x1FF).r(0, 0x20).r(0, 0x30).w(0, 0x3E0, 0xB).w(0, 0x320, 0x20030)
    p.w(0, 0x380, 1000).time(3).r(0, 0x390).w(0, 0x80, 0x10).w(0, 0x310, 0)
    p.w(0, 0x300, 0x4041).w(0, 0x300, 0xC4500).w(0, 0x300, 0x4608).w(0, 0xB0, 0).r(0, 0x280)
    p.w(0, 0x350, 0x700).w(0, 0x360, 0x400).w(0, 0xE0, 0xFFFFFFFF).w(0, 0xD0, 1 << 24)
    save('lapic', 'timer-ipi', p.b)
    p = Prog()
    for base, vec, icw3 in ((0, 0x20, 4), (1, 0x28, 2)):
        p.w(base, 0, 0x11, 1).w(base, 1, vec, 1).w(base, 1, icw3, 1).w(base, 1, 0x01, 1)
        p.w(base, 1, 0x00, 1)
    p.w(0, 0, 0x0A, 1).r(0, 0, 1).w(0, 0, 0x0B, 1).r(0, 0, 1).w(0, 0, 0x0C, 1).r(0, 0, 1)
    p.w(0, 0, 0x68, 1).w(0, 0, 0xC7, 1).w(0, 0, 0x20, 1).w(2, 0, 0x08, 1).w(2, 1, 0x0E, 1)
    save('atpic', 'init', p.b)
    p = Prog()
    p.w(2, 0, 0xA0, 1).r(0, 4, 2).w(0, 2, 0x121, 2).r(1, 0).time(5).r(1, 0).r(0, 0, 2)
    p.w(0, 0, 0xFFFF, 2).w(0, 4, 0x0001 | 5 << 10, 2).w(3, 1, 0x02, 1).w(2, 0, 0xA1, 1)
    save('pm', 'sci-sleep', p.b)
    p = Prog()
    for c in (0x20, 0x60, 0xAA, 0xAB, 0xAD, 0xAE, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xA7, 0xA8):
        p.w(1, 0, c, 1)
        if c in (0x60, 0xD1, 0xD2, 0xD3, 0xD4):
            p.w(0, 0, 0x47, 1)
        p.r(1, 0, 1).r(0, 0, 1)
    p.w(0, 0, 0xFF, 1).r(0, 0, 1).w(0, 0, 0xF4, 1).r(0, 0, 1)
    save('atkbdc', 'commands', p.b)
    p = Prog()
    p.w(0, 3, 0x80, 1).w(0, 0, 1, 1).w(0, 1, 0, 1).w(0, 3, 0x03, 1).w(0, 2, 0xC7, 1)
    p.w(0, 1, 0x0F, 1).w(0, 4, 0x1B, 1)
    for c in b'hello':
        p.w(0, 0, c, 1).r(0, 2, 1).r(0, 5, 1).r(0, 0, 1)
    p.r(0, 6, 1).w(0, 7, 0x55, 1).r(0, 7, 1).w(0, 4, 0x0B, 1).w(0, 0, 0x41, 1)
    save('uart', 'loopback', p.b)
    p = Prog()
    p.w(0, 0, 0x0000, 2)
    for _ in range(4):
        p.r(0, 1, 1)
    p.w(0, 0, 0x0019, 2)
    for _ in range(8):
        p.r(0, 1, 1)
    DMA = 0x100000
    p.ram(DMA, struct.pack('>IIQ', 0x02 | 0x0019 << 16 | 0x08, 64, 0x101000))
    p.w(1, 0, 0, 4).w(1, 4, (DMA >> 24 & 0xFF) | (DMA >> 16 & 0xFF) << 8 |
                      (DMA >> 8 & 0xFF) << 16 | (DMA & 0xFF) << 24, 4)
    save('fwcfg', 'select-dma', p.b)
    p = Prog()
    p.w(0, 0x55, 0x98, 1).r(0, 0x20, 1).r(0, 0x22, 1).r(0, 0x4E, 1).w(0, 0, 0xFF, 1)
    p.w(0, 0x100, 0x40, 1).w(0, 0x100, 0xA5, 1).w(0, 0, 0x70, 1).r(0, 0, 1)
    p.w(0, 0x1000, 0x20, 1).w(0, 0x1000, 0xD0, 1).r(0, 0, 1).w(0, 0, 0x50, 1)
    p.w(0, 0, 0x90, 1).r(0, 0, 2).w(0, 0, 0xFF, 1).r(1, 0xFFF0, 8).w(1, 0, 0x40, 1)
    save('pflash', 'cfi-program-erase', p.b)


def seeds_pci_cfg():
    p = Prog()
    for win in (0, 1, 3, 4):
        p.cfgr(win, 0x00).cfgr(win, 0x08).cfgr(win, 0x34, 1)
    for bar in range(6):
        p.cfgw(1, 0x10 + 4 * bar, 0xFFFFFFFF).cfgr(1, 0x10 + 4 * bar)
    p.cfgw(1, 0x14, 0xC1000000).cfgw(1, 0x20, 0xC2000000).cfgw(1, 0x24, 0).cfgw(1, 0x04, 0x0007, 2)
    p.cfgr(1, 0x40).cfgr(1, 0x42, 2).cfgw(1, 0x42, 0xC000, 2)
    p.w(1, 0, 0xFEE00000).w(1, 8, 0x41).w(1, 12, 0).r(1, 0x800)
    p.cfgw(3, 0x04, 0, 2).cfgw(3, 0x04, 6, 2).cfgw(3, 0x24, 0xC3000000)
    for off in range(0x40, 0x100, 4):
        p.cfgr(3, off)
    p.cfgw(3, 0x80, 0x00810005).cfgw(3, 0x84, 0xFEE00000).cfgw(3, 0x8C, 0x41)
    p.w(5, 0, 0x80002000).r(5, 4).w(5, 0, 0x80002010).w(5, 4, 0xFFFFFFFF).r(5, 4)
    p.w(5, 0, 0x8000F800).r(5, 4, 2).r(5, 6, 2).r(6, 0x20000).w(6, 0x20010, 0xFFFFFFFF)
    p.cfgw(7, 0x10, 0xFFFFFFFF).cfgr(7, 0x0)
    save('pci_cfg', 'size-move-msi', p.b)


def seeds_config():
    save('config', 'slots', b'c2\nm256M\ns0,hostbridge\ns3,virtio-blk,/tmp/x.img,ro\n'
         b's4:1,virtio-net,tap0,mac=52:54:00:12:34:56\ns5,ahci,hd:/a.img,cd:/b.iso\n'
         b's6,nvme,/tmp/n.img,maxq=4,qsz=64,ser=ABC\ns7,e1000,slirp,hostfwd=tcp::2222-:22\n'
         b's8,xhci,tablet\ns9,virtio-console,port1=/tmp/c.sock\ns10,virtio-scsi,/tmp/s.img\n'
         b's11,virtio-rnd\ns31,lpc\nlcom1,stdio\nlbootrom,/tmp/rom.fd,/tmp/vars.fd,fwcfg=qemu\n'
         b'oconfig.dump=false\nc4,sockets=2,cores=2,threads=1\nU12345678-1234-1234-1234-123456789abc\n'
         b'p0:0\nG:1234\n')
    save('config', 'kfile', b'K# a -k file\ncpus=2\nmemory.size=512M\npci.0.3.0.device=virtio-blk\n'
         b'pci.0.3.0.path=/tmp/x.img\nlpc.com1.path=stdio\nname=vm0\n')


def seeds_loader():
    img = bytearray(0x1400)
    img[0x1f1] = 1
    img[0x1fe:0x200] = b'\x55\xaa'
    img[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', img, 0x206, 0x020F)
    img[0x211] = 1
    struct.pack_into('<I', img, 0x230, 0x200000)
    img[0x234] = 1
    struct.pack_into('<H', img, 0x236, 3)
    struct.pack_into('<I', img, 0x238, 2047)
    struct.pack_into('<Q', img, 0x258, 0x1000000)
    struct.pack_into('<I', img, 0x260, 0x100000)
    save('loader', 'bzimage', img)
    # Multiboot a.out kludge: header at 0 with flags bit 16.
    mb = bytearray(0x2000)
    flags = 0x10003
    struct.pack_into('<IIIIIIII', mb, 0, 0x1BADB002, flags, -(0x1BADB002 + flags) & 0xFFFFFFFF,
                     0x200000, 0x200000, 0, 0x203000, 0x200020)
    save('loader', 'multiboot-aout', mb)
    # Multiboot ELF32: one PT_LOAD segment.
    elf = bytearray(0x1100)
    elf[0:16] = b'\x7fELF\x01\x01\x01' + bytes(9)
    struct.pack_into('<HHIIIIIHHHHHH', elf, 16, 2, 3, 1, 0x200000, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    struct.pack_into('<IIIIIIII', elf, 52, 1, 0x1000, 0x200000, 0x200000, 0x100, 0x200, 5, 0x1000)
    struct.pack_into('<III', elf, 0x100, 0x1BADB002, 3, -(0x1BADB002 + 3) & 0xFFFFFFFF)
    save('loader', 'multiboot-elf', elf)


if __name__ == '__main__':
    seeds_virtio()
    seeds_ring()
    seeds_ahci()
    seeds_nvme()
    seeds_e1000()
    seeds_xhci()
    seeds_platform()
    seeds_pci_cfg()
    seeds_config()
    seeds_loader()
