"""Serial console input at any time: typing on COM1 while the guest boots (before and while
Linux's 8250 driver probes and sets up the 16550) must leave a console that still reads.

- test_typing_during_boot: Enter and a short command typed every fraction of a second from
  bhyve's start until the shell answers, then a command typed must answer.
- test_serial_noise_property: random bytes (bursts longer than the 16-byte FIFO included) at
  random times during the boot and at the shell, then a command typed must answer.
  BHYVE_SERIAL_SEED picks the random sequence (default: a fresh one, printed on failure).
- test_input_stream: 8000 random lines (BHYVE_SERIAL_LINES) typed into `head -c N | md5sum`
  at the shell; the checksum must match.  Before the UART drove its interrupt line under its
  lock, one run in two of 20000 lines left the console dead under load.

Both need `make guest`.  The noise alphabet leaves out the bytes that mean something to the
guest's terminal and shell rather than to the UART (^C ^D ^Z ^\\ ^S ^Q, ESC, quotes,
backslash, shell syntax), so that what is tested is the device, not the guest's shell grammar.
"""
import os
import random
import subprocess
import time

import pytest

from conftest import BOOT_TIMEOUT, BUILD, INITRD, KERNEL, MARKER, PROMPT, needs_guest, prog
from guestlib import Guest

pexpect = pytest.importorskip("pexpect")

pytestmark = needs_guest

NOISE = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:+-=_/@%\t\r\n"
         + bytes(range(0x80, 0x100)))


def start(tag):
    """bhyveload + bhyve with COM1 on stdio; the Guest right after bhyve started."""
    name = f"vt-serial-{tag}-{os.getpid()}"
    load = subprocess.run([prog("bhyveload"), "-m", "512M", "-k", str(KERNEL), "-i",
                           str(INITRD), "-a", "console=ttyS0", name], capture_output=True,
                          text=True, timeout=120)
    assert load.returncode == 0, load.stderr
    child = pexpect.spawn(prog("bhyve"), ["-A", "-H", "-P", "-m", "512M", "-s", "0,hostbridge",
                                          "-s", "1,lpc", "-l", "com1,stdio", name],
                          encoding="utf-8", codec_errors="replace", timeout=BOOT_TIMEOUT,
                          dimensions=(50, 200))
    child.logfile_read = open(BUILD / f"{name}.console.log", "w")
    return Guest(child, name)


@pytest.fixture
def guests():
    gs = []
    yield gs
    for g in gs:
        g.destroy()


def type_until(g, pattern, send, interval, timeout):
    """Call send() every `interval` seconds (a function of nothing) until `pattern` appears in
    the console output; the interval only paces the typing, the pattern is the condition."""
    end = time.monotonic() + timeout
    while True:
        send()
        try:
            g.child.expect(pattern, timeout=interval())
            return
        except pexpect.TIMEOUT:
            if time.monotonic() > end:
                raise


def answers(g):
    """A command typed at the shell runs and its output comes back."""
    out = g.sh("echo $((6 * 7)); uname -s", timeout=300)
    assert out.split() == ["42", "Linux"], out


def test_typing_during_boot(guests):
    g = start("type")
    guests.append(g)
    keys = iter(["\r", "ls\r", "\r\r", "echo typed\r"] * 1000000)
    # Typing from the first instruction through the 8250 probe and set-up to the init marker...
    type_until(g, MARKER, lambda: g.child.send(next(keys)), lambda: 0.2, BOOT_TIMEOUT)
    # ...and on until the shell prints a prompt after reading a line: then the console reads.
    type_until(g, PROMPT, lambda: g.child.send("\r"), lambda: 0.5, 300)
    answers(g)
    answers(g)


def test_serial_noise_property(guests):
    seed = int(os.environ.get("BHYVE_SERIAL_SEED", "0")) or random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    print(f"BHYVE_SERIAL_SEED={seed}")
    g = start(f"noise{seed}")
    guests.append(g)

    def noise():
        n = rng.choice([1, 1, 2, 3, 8, 15, 16, 17, 40, 100])
        os.write(g.child.child_fd, bytes(rng.choice(NOISE) for _ in range(n)))

    def pause():
        return rng.choice([0.0, 0.01, 0.05, 0.2, 0.5, 1.0])

    type_until(g, MARKER, noise, pause, BOOT_TIMEOUT)
    # At the shell: noise at random times, then a clean line; the noise lines are commands
    # that are not found, which is fine.
    for _ in range(rng.randrange(3, 8)):
        noise()
        time.sleep(pause())      # not a synchronisation: random spacing of the input
    type_until(g, PROMPT, lambda: g.child.send("\r"), lambda: 0.5, 300)
    answers(g)


def test_input_stream(guests):
    """A long stream of typed lines while the guest reads them: every byte arrives, in order.
    The reader thread fills the FIFO while the vCPU drains it, thousands of times, so an
    interrupt line left high by racing updates (the console then never reads again) shows up
    as a missing end marker, and a lost or reordered byte as a wrong checksum."""
    import hashlib
    g = start("stream")
    guests.append(g)
    g.child.expect(MARKER, timeout=BOOT_TIMEOUT)
    g.child.expect(PROMPT, timeout=300)
    rng = random.Random(1)
    letters = b"abcdefghijklmnopqrstuvwxyz0123456789"
    lines = [bytes(rng.choice(letters) for _ in range(rng.randrange(1, 120)))
             for _ in range(int(os.environ.get("BHYVE_SERIAL_LINES", "8000")))]
    data = b"".join(l + b"\n" for l in lines)
    g.child.sendline(f"stty -echo; head -c {len(data)} | md5sum; stty echo")
    for l in lines:
        os.write(g.child.child_fd, l + b"\r")       # the guest's tty turns CR into NL
    g.child.expect(r"([0-9a-f]{32})", timeout=600)
    assert g.child.match.group(1) == hashlib.md5(data).hexdigest()
    answers(g)
