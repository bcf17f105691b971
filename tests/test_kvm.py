"""The KVM backend (vmm.backend=kvm) on this host's /dev/kvm: Multiboot test guests print on
COM1 and end the VM each way bhyve reports (exit status 0-3); forcing KVM where it cannot be
used is a clear error (exit 4).  Guest tests skip where /dev/kvm cannot run a guest."""
import os
import subprocess

import pytest

from conftest import BUILD, ROOT, prog


def guest(name):
    p = BUILD / "tests" / "guests" / name
    return p if p.exists() else ROOT / "build" / "tests" / "guests" / name


def kvm_works():
    """Open /dev/kvm and create a VM, as the backend does (the probe in kvm_probe.c runs a
    64-bit guest; a forced backend fails with exit 4 if it does not pass)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    r = subprocess.run([prog("bhyve"), "-m", "32M", "-o", "vmm.backend=kvm",
                        "-o", f"loader.kernel={guest('mb_exit.bin')}",
                        "-o", "loader.cmdline=poweroff", f"kvmprobe-{os.getpid()}"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 1


needs_kvm = pytest.mark.skipif(not guest("mb_exit.bin").exists() or not kvm_works(),
                               reason="no working /dev/kvm here (or make guests not run)")

_counter = [0]


@pytest.fixture
def vmname():
    _counter[0] += 1
    name = f"kvm-{os.getpid()}-{_counter[0]}"
    yield name
    subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)


def run(args, timeout=60, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def boot(vmname, kernel, cmdline="", extra=(), env=None, timeout=60):
    args = [prog("bhyve"), "-m", "32M", "-l", "com1,stdio", "-o", "vmm.backend=kvm",
            "-o", f"loader.kernel={guest(kernel)}", *extra]
    if cmdline:
        args += ["-o", f"loader.cmdline={cmdline}"]
    return run(args + [vmname], timeout=timeout, env=env)


@needs_kvm
@pytest.mark.parametrize("how,status", [("reset", 0), ("poweroff", 1), ("halt", 2),
                                        ("fault", 3)])
def test_exit_status_on_kvm(vmname, how, status):
    r = boot(vmname, "mb_exit.bin", how)
    assert f"mb_exit: {how}" in r.stdout, r.stdout + r.stderr
    assert r.returncode == status, r.stdout + r.stderr
    if how == "fault":
        assert "bhyve: vCPU 0 triple fault at rip 0x" in r.stderr


@needs_kvm
def test_multiboot_hello_on_kvm(vmname):
    """bhyveload + bhyve as two steps; the guest checks the Multiboot state, reads the memory
    size, prints on COM1 (port I/O exits) and powers off through ACPI PM1a."""
    r = run([prog("bhyveload"), "-m", "64M", "-k", guest("mb_hello.bin"), "-a", "on kvm",
             vmname])
    assert r.returncode == 0, r.stderr
    r = run([prog("bhyve"), "-m", "64M", "-H", "-l", "com1,stdio", "-o", "vmm.backend=kvm",
             vmname], env={"BHYVE_VERBOSE": "1"})
    assert "mb_hello: multiboot ok, cmdline: mb_hello.bin on kvm" in r.stdout, \
        r.stdout + r.stderr
    assert "mb_hello: memory 64 MiB" in r.stdout
    assert "bhyve: backend kvm" in r.stderr
    assert r.returncode == 1, r.stdout + r.stderr


@needs_kvm
def test_without_H_and_with_P(vmname):
    r = boot(vmname, "mb_hello.bin", extra=("-P",))
    assert "mb_hello: powering off" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 1


@needs_kvm
def test_smp_init_sipi_on_kvm(vmname):
    """The BSP starts the AP with INIT + SIPI through the in-kernel LAPIC (a new vCPU must be
    in KVM's APIC-ID map: backend_kvm.c refreshes its LAPIC state after creating it)."""
    args = [prog("bhyve"), "-c", "2", "-m", "32M", "-H", "-l", "com1,stdio",
            "-o", "vmm.backend=kvm", "-o", f"loader.kernel={guest('mb_smp.bin')}", vmname]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    assert "mb_smp: AP up" in out, out + err
    assert "mb_smp: BSP saw the AP" in out, out + err
    assert p.returncode == 1


@pytest.mark.skipif(not guest("mb_exit.bin").exists(), reason="make guests not run")
def test_forced_kvm_unavailable(vmname):
    """vmm.backend=kvm where KVM cannot be used: one clear line, exit 4, no VM left."""
    r = boot(vmname, "mb_exit.bin", "poweroff", env={"BHYVE_KVM_DEVICE": "/nonexistent"})
    assert r.returncode == 4, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bhyve: "), r.stderr
    assert "KVM is not available" in lines[0] and "/nonexistent" in lines[0]


@pytest.mark.skipif(not guest("mb_exit.bin").exists(), reason="make guests not run")
def test_auto_is_soft_unless_asked(vmname):
    """vmm.backend=auto picks the software CPU unless BHYVE_AUTO_KVM=1 (see kvm_probe.c)."""
    r = boot(vmname, "mb_exit.bin", "poweroff", extra=("-o", "vmm.backend=auto"),
             env={"BHYVE_VERBOSE": "1", "BHYVE_AUTO_KVM": "0"}, timeout=120)
    assert "bhyve: backend soft" in r.stderr, r.stderr


@needs_kvm
def test_auto_picks_kvm_when_enabled(vmname):
    r = boot(vmname, "mb_exit.bin", "poweroff", extra=("-o", "vmm.backend=auto"),
             env={"BHYVE_VERBOSE": "1", "BHYVE_AUTO_KVM": "1"})
    assert "bhyve: backend kvm" in r.stderr, r.stderr
    assert r.returncode == 1, r.stdout + r.stderr


@needs_kvm
def test_bootrom_on_kvm(vmname):
    """-l bootrom on KVM: the ROM is a read-only memory slot (KVM cannot run code from MMIO);
    the CPU starts at its reset vector in real mode, goes on and prints on COM1."""
    r = subprocess.run([prog("bhyve"), "-m", "64M", "-s", "0,hostbridge", "-s", "1,lpc",
                        "-l", "com1,stdio", "-l", f"bootrom,{guest('rom_hello.bin')}",
                        "-o", "vmm.backend=kvm", vmname],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert "rom: hello from the reset vector" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
