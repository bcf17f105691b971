"""Hostile guests and hostile local users against bhyve (README "Security").

- Registry growth: tests/guests/hostile_decode.asm turns a virtio device's decoding off and
  on 10^6 times; each toggle re-registers its BARs, and bhyve's resident memory must stay
  flat (sampled after 10^5 and after 10^6 toggles; a leak of the old registry copies grew it
  by over a gigabyte).
- VM objects belong to one user: created mode 0600; bhyve, bhyvectl and bhyveload refuse an
  object another user owns or that is open to other users (one line, bhyve exits 4); a
  shrunken object is refused, not a SIGBUS.  (The control socket's peer checks, both ways,
  are in tests/unit/test_vmm_ctl.c.)
- The seccomp sandbox: with the test-only key security.test_forbidden_call, a thread of the
  running bhyve calls execve once the filter is on; bhyve must die with one line naming the
  call (59, execve on x86-64) and status 4.  With security.seccomp=off the same run is not
  stopped by the filter.
"""
import os
import pathlib
import stat
import subprocess

import pytest

from conftest import BUILD, prog
from guestlib import as_user

HOSTILE_DECODE = BUILD / "tests" / "guests" / "hostile_decode.bin"
MIB = 1 << 20


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_decode_toggles_keep_memory_flat():
    if not HOSTILE_DECODE.exists():
        pytest.skip("make guests not run")
    name = f"hostile-decode-{os.getpid()}"
    cmd = [prog("bhyve"), "-m", "32M", "-c", "2", "-s", "0,hostbridge", "-s", "3,virtio-rnd",
           "-s", "31,lpc", "-l", "com1,stdio",
           "-o", f"loader.kernel={HOSTILE_DECODE}", name]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    rss = {}
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            if line.startswith("hostile: mark "):
                rss[int(line.split()[2], 16)] = rss_bytes(p.pid)
        p.wait(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
    out = "".join(lines) + p.stderr.read()
    assert "plat: done" in out, out
    assert p.returncode == 1, out
    assert sorted(rss) == list(range(1, 11)), out
    # 9 * 10^5 toggles between the samples; the leak cost over 1 KiB per toggle.
    assert rss[10] - rss[1] < 48 * MIB, rss


def shm(name):
    return pathlib.Path("/dev/shm") / f"bhyve.{name}"


@pytest.fixture
def vmname():
    name = f"sec-{os.getpid()}-{os.urandom(3).hex()}"
    yield name
    subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
    assert not shm(name).exists()


def run(args, prefix=()):
    return subprocess.run(list(prefix) + [str(a) for a in args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def bhyve_open(name, prefix=()):
    """bhyve on an existing VM: it opens the object, then would run it."""
    return run([prog("bhyve"), "-m", "256M", "-s", "0,hostbridge", "-s", "31,lpc", name],
               prefix)


def one_line(r):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (a second user through setpriv)")


def test_vm_object_private(vmname):
    assert run([prog("bhyvectl"), f"--vm={vmname}", "--create"]).returncode == 0
    st = shm(vmname).stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()


def test_vm_object_open_to_others_refused(vmname):
    assert run([prog("bhyvectl"), f"--vm={vmname}", "--create"]).returncode == 0
    os.chmod(shm(vmname), 0o644)
    r = bhyve_open(vmname)
    assert r.returncode == 4 and "accessible to other users" in one_line(r), r.stderr
    r = run([prog("bhyvectl"), f"--vm={vmname}", "--get-lowmem"])
    assert r.returncode == 1 and "accessible to other users" in one_line(r), r.stderr


def test_vm_object_of_other_user_refused(vmname):
    need_root()
    assert run([prog("bhyvectl"), f"--vm={vmname}", "--create"]).returncode == 0
    os.chmod(shm(vmname), 0o666)       # even wide open, another user may not run it
    r = bhyve_open(vmname, as_user("nobody"))
    assert r.returncode == 4 and "belongs to another user" in one_line(r), r.stderr
    r = run([prog("bhyvectl"), f"--vm={vmname}", "--get-lowmem"], as_user("nobody"))
    assert r.returncode == 1 and "belongs to another user" in one_line(r), r.stderr


def test_vm_object_made_by_other_user_refused(vmname):
    need_root()
    r = run([prog("bhyvectl"), f"--vm={vmname}", "--create"], as_user("nobody"))
    assert r.returncode == 0, r.stderr
    r = bhyve_open(vmname)             # root too: the guest's owner controls its RAM
    assert r.returncode == 4 and "belongs to another user" in one_line(r), r.stderr
    os.chown(shm(vmname), 0, 0)


def test_vm_object_shrunken_refused(vmname):
    assert run([prog("bhyvectl"), f"--vm={vmname}", "--create"]).returncode == 0
    os.truncate(shm(vmname), 64 << 20)
    r = bhyve_open(vmname)
    assert r.returncode == 4 and "not a valid bhyve VM object" in one_line(r), r.stderr


MB_EXIT = BUILD / "tests" / "guests" / "mb_exit.bin"


def run_mb_exit(name, *opts):
    return run([prog("bhyve"), "-m", "32M", "-s", "0,hostbridge", "-s", "31,lpc",
                "-l", "com1,stdio", "-o", f"loader.kernel={MB_EXIT}",
                "-o", "loader.cmdline=poweroff"] + [a for o in opts for a in ("-o", o)]
               + [name])


def test_seccomp_kills_forbidden_call(vmname):
    if not MB_EXIT.exists():
        pytest.skip("make guests not run")
    r = run_mb_exit(vmname, "security.test_forbidden_call=1")
    assert r.returncode == 4, (r.stdout, r.stderr)
    line = one_line(r)
    assert "seccomp" in line and "forbidden system call 59" in line, r.stderr


def test_seccomp_on_by_default_and_off_switch(vmname):
    if not MB_EXIT.exists():
        pytest.skip("make guests not run")
    r = run_mb_exit(vmname)
    assert r.returncode == 1 and "mb_exit: poweroff" in r.stdout, (r.stdout, r.stderr)
    with open(f"/proc/self/status") as f:
        assert "Seccomp:\t0" in f.read()       # the test itself is not filtered
    r = run_mb_exit(vmname, "security.seccomp=off", "security.test_forbidden_call=1")
    assert r.returncode == 1 and "mb_exit: poweroff" in r.stdout, (r.stdout, r.stderr)
    r = run_mb_exit(vmname, "security.seccomp=maybe")
    assert r.returncode == 4 and "security.seccomp=maybe" in one_line(r), r.stderr
