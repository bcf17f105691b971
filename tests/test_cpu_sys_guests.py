"""System-level behaviour of the software CPU seen from test guests of our own
(tests/guests/cpusys_*.asm, Multiboot kernels run by bhyve): mode transitions from real mode to
long mode and back, every exception vector with its error code and saved RIP, page faults for
every combination of P, R/W, U/S, NX and reserved bits (checked here against the rules of the
Intel SDM Vol. 3 4.6/4.7), nested faults ending in #DF and a triple fault, SYSCALL/SYSRET and
IRETQ/INT across privilege levels; also SYSENTER/SYSEXIT, an NMI through the local APIC, CR8
as the APIC's TPR, and DR0-DR3 instruction/data breakpoints.  The guests print
"cpusys: <check> ok|FAIL" on COM1; each runs in well under a second.

  cpusys_modes  real -> 16/32-bit protected -> long -> compatibility -> protected -> real
  cpusys_long   long mode: exceptions, INT n, SYSCALL/SYSRET, SYSENTER/SYSEXIT, rings,
                the 4-level page-fault matrix and reserved bits, NMI, CR8, debug registers
  cpusys_prot   32-bit protected mode: exceptions, rings, 32-bit paging matrix, PAE
  cpusys_df     nested faults, #DF, triple fault (bhyve exit status 3)
  cpusys_dbg    RFLAGS.RF in fault frames, single-step around SYSCALL/SYSRET, #DB held by
                MOV SS, general detect, CPUID.1:EDX.APIC, NMIs/interrupts at the next
                instruction boundary and the NMI latched during an NMI handler"""
import os
import re
import subprocess

import pytest

from conftest import BUILD, prog

GUESTS = BUILD / "tests" / "guests"
_n = [0]


def run(name, cmdline=None, timeout=120):
    path = GUESTS / f"cpusys_{name}.bin"
    if not path.exists():
        pytest.skip("make guests not run")
    _n[0] += 1
    vm = f"cpusys-{os.getpid()}-{_n[0]}"
    cmd = [prog("bhyve"), "-m", "32M", "-c", "1", "-l", "com1,stdio",
           "-o", f"loader.kernel={path}"]
    if cmdline:
        cmd += ["-o", f"loader.cmdline={cmdline}"]
    try:
        r = subprocess.run(cmd + [vm], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([prog("bhyvectl"), f"--vm={vm}", "--destroy"], capture_output=True)
    if "not part of this build yet" in r.stderr:
        pytest.skip(r.stderr.strip())
    return r


def checks(r, must):
    """The guest's own checks: none failed, each of `must` passed, and it finished."""
    out = r.stdout + r.stderr
    assert "FAIL" not in r.stdout, out
    for m in must:
        assert f"cpusys: {m} ok" in r.stdout, out
    assert "cpusys: done failures=00000000" in r.stdout, out
    assert r.returncode == 1, out          # powered off through ACPI S5


# ---- page faults: the architectural model ----

ACC_R, ACC_W, ACC_X = 0, 1, 2


def pf_expect(case):
    """(vector, error code) for one case of cpusys_long's matrix: bits 0-4 P, W, U, NX, RSVD of
    the paging-structure entry at level bits 9-10 (other levels P|W|U), bits 5-6 the access,
    bit 7 CPL 3, bit 8 CR0.WP.  4-level paging with EFER.NXE = 1; bit 51 is reserved
    (MAXPHYADDR 40)."""
    p, w, u, nx, rsvd = [(case >> k) & 1 for k in range(5)]
    acc, user, wp = (case >> 5) & 3, (case >> 7) & 1, (case >> 8) & 1
    if acc == 3:
        return None
    err = (2 if acc == ACC_W else 0) | (4 if user else 0) | (0x10 if acc == ACC_X else 0)
    if not p:
        return 14, err
    if rsvd:
        return 14, err | 1 | 8
    if user and not u:
        return 14, err | 1
    if acc == ACC_W and not w and (user or wp):
        return 14, err | 1
    if acc == ACC_X and nx:
        return 14, err | 1
    return 0xFF, 0xFF


# special cases: (vector, error code)
PF_SPECIAL = {
    1: (14, 0x09),   # PS in a PML4E: reserved
    2: (14, 0x09),   # PS in a PDPTE without 1-GByte pages advertised: reserved
    3: (14, 0x09),   # 2-MByte PDE with bit 13 set: reserved
    4: (0xFF, 0xFF),  # clean 2-MByte page
    5: (14, 0x09),   # XD with EFER.NXE = 0: reserved (read)
    6: (14, 0x09),   # same for a fetch: no I/D bit while NXE = 0
    7: (0xFF, 0xFF),  # bit 52 is ignored by 4-level paging
    8: (14, 0x09),   # bit 40 >= MAXPHYADDR: reserved
}


@pytest.fixture(scope="module")
def long_run():
    return run("long")


def test_long_exceptions_syscall_rings(long_run):
    checks(long_run, [
        "exc-de", "exc-db-single-step", "exc-db-dr6-bs", "exc-db-int1", "exc-bp",
        "exc-into-64-ud", "exc-ud", "exc-nm", "exc-ts", "exc-np", "exc-ss-not-present",
        "exc-ss-noncanonical", "exc-gp-noncanonical", "exc-gp-selector", "exc-gp-cr4",
        "exc-pf", "exc-pf-cr2", "exc-mf", "exc-ac", "exc-xm",
        "syscall-rcx", "syscall-r11", "syscall-sfmask", "syscall-cs", "syscall-ss",
        "syscall-rsp-unchanged", "sysretq-to-ring3", "syscall-compat-rcx", "syscall-compat-cs",
        "sysretl-to-compat", "sysret-noncanonical-gp", "sysret-gp-stays-ring0",
        "syscall-sce-clear-ud", "sysenter-ring0-state", "sysexit-to-ring3", "rings-int-iretq-stages", "ring3-hlt-gp", "ring3-mov-cr3-gp",
        "ring3-cli-gp", "ring3-in-gp", "ring3-int-dpl0-gate-gp", "ring3-io-bitmap-denies-gp",
        "ring3-io-bitmap-allows",
        "lapic-nmi", "nmi-blocked-in-handler", "nmi-delivered-after-iret",
        "sti-pending-interrupt", "sti-shadow-one-instruction", "cr8-writes-tpr", "cr8-reads-tpr", "cr8-masks-interrupt",
        "cr8-lowered-delivers", "dr-exec-breakpoint", "dr-exec-dr6-b0", "dr-exec-rf-one-db",
        "dr-exec-rf-resumes", "dr-data-write-trap", "dr-data-dr6-b1", "dr-data-write-done",
        "dr-data-outside", "dr-data-read-trap"])
    # INT n for vectors 0-31, 0x80 and 0xFF: delivered with no error code
    assert long_run.stdout.count("cpusys: int-n ok") == 34, long_run.stdout


def test_long_page_fault_matrix(long_run):
    seen = {}
    for m in re.finditer(r"^pf ([0-9A-F]{3}) ([0-9A-F]{2}) ([0-9A-F]{2}) ([01])$",
                         long_run.stdout, re.M):
        seen[int(m.group(1), 16)] = (int(m.group(2), 16), int(m.group(3), 16), m.group(4))
    bad = []
    n = 0
    for case in range(0x800):
        exp = pf_expect(case)
        if exp is None or (case >> 9 and case & 0x100):
            continue
        n += 1
        got = seen.get(case)
        if got is None or got[:2] != exp or got[2] != "1":
            bad.append(f"case {case:03x}: got {got} want {exp}")
    assert n == 384 + 3 * 192
    assert not bad, "\n".join(bad[:40])


def test_long_page_fault_reserved_bits(long_run):
    seen = {int(m.group(1)): (int(m.group(2), 16), int(m.group(3), 16))
            for m in re.finditer(r"^pfs (\d) ([0-9A-F]{2}) ([0-9A-F]{2})$", long_run.stdout,
                                 re.M)}
    assert seen == PF_SPECIAL, long_run.stdout


def test_nested_faults_double_and_triple_fault():
    r = run("df")
    out = r.stdout + r.stderr
    assert "FAIL" not in r.stdout, out
    for m in ["df-np-during-gp", "df-on-ist2", "df-pf-during-pf", "df-pf-during-pf-cr2",
              "df-gp-during-pf", "pf-during-gp-no-df", "np-during-int-n-no-df",
              "np-during-ud-no-df"]:
        assert f"cpusys: {m} ok" in r.stdout, out
    assert "cpusys: done failures=00000000" in r.stdout, out
    assert r.returncode == 3, out          # the final fault during #DF: triple fault
    assert "triple fault" in r.stderr, out


def test_modes_real_protected_long_compat_and_back():
    checks(run("modes"), [
        "pm32-entry-pe", "pm32-entry-cs", "real-to-pm32", "real1-pe-clear",
        "real1-segment-arithmetic", "real1-ivt-int", "real1-int-frame", "real1-32bit-operand",
        "real1-cs", "real1-de-ivt", "real1-gp-limit-ivt", "real1-ud-ivt", "real2-de-ivt",
        "real2-gp-limit-ivt", "long-lma", "long-64bit-register", "long-cs", "compat-lma-still-set",
        "compat-cs", "compat-32bit-operand", "long-off-lma-clear", "long-off-pg-clear",
        "real2-pe-clear", "real2-segment-arithmetic", "real2-ivt-int", "real2-32bit-operand",
        "real-mode-twice"])


def pf32_expect(case):
    """(vector, error code) for cpusys_prot's 32-bit paging matrix: bits 0-2 P, W, U of the
    PDE (bit 7 set) or PTE, bits 3-4 the access, bit 5 CPL 3, bit 6 CR0.WP.  No XD and no
    I/D error-code bit without PAE."""
    p, w, u = case & 1, (case >> 1) & 1, (case >> 2) & 1
    acc, user, wp = (case >> 3) & 3, (case >> 5) & 1, (case >> 6) & 1
    if acc == 3:
        return None
    err = (2 if acc == ACC_W else 0) | (4 if user else 0)
    if not p:
        return 14, err
    if user and not u:
        return 14, err | 1
    if acc == ACC_W and not w and (user or wp):
        return 14, err | 1
    return 0xFF, 0xFF


def pae_expect(case):
    """PAE paging with EFER.NXE = 1: the 32-bit matrix's bits plus XD (bit 8) and bit 62 (bit
    9), which PAE reserves (bits 62:MAXPHYADDR); fetches set the I/D error-code bit."""
    p, w, u = case & 1, (case >> 1) & 1, (case >> 2) & 1
    acc, user, wp = (case >> 3) & 3, (case >> 5) & 1, (case >> 6) & 1
    nx, rsvd = (case >> 8) & 1, (case >> 9) & 1
    if acc == 3:
        return None
    err = (2 if acc == ACC_W else 0) | (4 if user else 0) | (0x10 if acc == ACC_X else 0)
    if not p:
        return 14, err
    if rsvd:
        return 14, err | 1 | 8
    if user and not u:
        return 14, err | 1
    if acc == ACC_W and not w and (user or wp):
        return 14, err | 1
    if acc == ACC_X and nx:
        return 14, err | 1
    return 0xFF, 0xFF


def test_protected_mode_exceptions_rings_paging_pae():
    r = run("prot")
    checks(r, [
        "p32-exc-de", "p32-exc-of-into", "p32-into-no-of", "p32-exc-br-bound",
        "p32-bound-in-range", "p32-exc-ud", "p32-rf-in-fault-frame",
        "p32-pop-ss-single-step-held", "p32-exc-np", "p32-exc-ss", "p32-exc-gp-selector",
        "p32-exc-gp-ss-code", "p32-exc-gp-limit", "p32-exc-gp-write-code",
        "p32-cs-limit-far-jmp", "p32-cs-limit-far-call", "p32-cs-limit-iret",
        "p32-cs-limit-far-ret", "p32-cs-limit-gate", "p32-cs-limit-cs-unchanged",
        "p32-ring3-int-iretd", "p32-ring3-hlt-gp", "p32-ring3-gp-on-esp0",
        "p32-pf-pse36-reserved", "p32-pf-4m-page-ok",
        "pae-pg-bad-pdpte-gp", "pae-pg-bad-pdpte-unchanged", "pae-read-ok",
        "pae-cr3-bad-pdpte-gp", "pae-cr3-pdpte-xd-gp", "pae-pdpte-cached",
        "pae-pdpte-reloaded-not-present", "pae-pf-xd-fetch", "pae-pf-not-present-fetch",
        "pae-xd-read-ok", "pae-pf-bit62-reserved", "pae-pf-bit40-reserved",
        "pae-pf-2m-bit13-reserved", "pae-pf-cr2", "pae-pf-xd-without-nxe-reserved"])
    assert r.stdout.count("cpusys: p32-int-n ok") == 32, r.stdout
    for tag, cases, model, count in (("pf32", 0x100, pf32_expect, 192),
                                     ("pae", 0x400, pae_expect, 768)):
        seen = {}
        for m in re.finditer(rf"^{tag} ([0-9A-F]{{3}}) ([0-9A-F]{{2}}) ([0-9A-F]{{2}}) ([01])$",
                             r.stdout, re.M):
            seen[int(m.group(1), 16)] = (int(m.group(2), 16), int(m.group(3), 16), m.group(4))
        bad, n = [], 0
        for case in range(cases):
            exp = model(case)
            if exp is None:
                continue
            n += 1
            got = seen.get(case)
            if got is None or got[:2] != exp or got[2] != "1":
                bad.append(f"{tag} case {case:03x}: got {got} want {exp}")
        assert n == count
        assert not bad, "\n".join(bad[:40])


def test_debug_rf_syscall_movss_events():
    checks(run("dbg"), [
        "rf-fault-ud", "rf-set-in-ud-frame", "rf-fault-gp", "rf-set-in-gp-frame",
        "rf-fault-pf", "rf-set-in-pf-frame", "rf-trap-bp", "rf-clear-in-bp-frame",
        "rf-trap-single-step", "rf-clear-in-single-step-frame", "rf-instruction-breakpoint",
        "rf-clear-in-breakpoint-frame", "rf-iretq-then-int3", "rf-cleared-after-one-instruction",
        "rf-restart-one-breakpoint", "rf-restart-after-fault",
        "syscall-tf-reached-kernel", "syscall-tf-masked-no-trap", "sysret-tf-traps",
        "sysret-tf-trap-before-user-insn", "sysret-tf-trap-in-ring3", "sysret-tf-dr6-bs",
        "movss-single-step-held", "movss-single-step-one-db", "movss-single-step-dr6-bs",
        "movss-data-breakpoints-held", "movss-data-one-db", "movss-data-dr6-b0-b1",
        "movss-general-detect-not-held", "general-detect-dr6-bd", "general-detect-rf-in-frame",
        "general-detect-clears-gd",
        "cpuid-apic-set-when-enabled", "cpuid-apic-clear-when-disabled", "cpuid-apic-set-again",
        "nmi-two-in-a-row-both-taken", "nmi-taken-at-next-boundary",
        "nmi-second-at-next-boundary", "nmi-latched-delivered-after-iretq",
        "nmi-only-one-latched", "nmi-latched-before-next-insn",
        "intr-self-ipi-taken-at-next-boundary", "intr-self-ipi-rip"])
