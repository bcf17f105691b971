"""fbuf's VNC server with a small Multiboot guest (no Linux boot): a port in use is
one line and exit 4, `wait` holds the guest until a client has connected, `password=`
refuses a wrong password and lets the right one in.  The client is Debian's vncsnapshot, the
password file is made by TigerVNC's vncpasswd.  Skipped without them or without `make guests`.
"""
import os
import select
import shutil
import socket
import subprocess
import time

import pytest

from conftest import BUILD, prog

GUEST = BUILD / "tests" / "guests" / "mb_hello.bin"
HELLO = "mb_hello"

pytestmark = [
    pytest.mark.skipif(not GUEST.exists(), reason="make guests not run"),
    pytest.mark.skipif(shutil.which("vncsnapshot") is None or shutil.which("vncpasswd") is None,
                       reason="needs vncsnapshot and vncpasswd (tigervnc-tools)"),
]


def vnc_display():
    """A free VNC display number (port 5900 + N): vncsnapshot takes displays, not ports."""
    for n in range(60, 99):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 5900 + n))
                return n
            except OSError:
                continue
    pytest.skip("no free VNC port")


def bhyve(name, fbuf_opts):
    return [prog("bhyve"), "-A", "-m", "32M", "-s", "0,hostbridge", "-s", "1,lpc",
            "-s", f"29,fbuf,{fbuf_opts}", "-l", "com1,stdio", "-o", f"loader.kernel={GUEST}",
            name]


def wait_listen(port, proc, timeout=60):
    """Until bhyve listens on port (read from /proc/net/tcp, no connection made)."""
    end = time.monotonic() + timeout
    want = f":{port:04X} "
    while time.monotonic() < end:
        with open("/proc/net/tcp") as f:
            if any(want in line and line.split()[3] == "0A" for line in f):
                return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError("bhyve did not listen")


def pending_output(proc, wait_s):
    r, _, _ = select.select([proc.stdout], [], [], wait_s)
    return bool(r)


def passwd_file(tmp_path, pw):
    p = tmp_path / f"pw-{pw}"
    p.write_bytes(subprocess.run(["vncpasswd", "-f"], input=pw.encode() + b"\n",
                                 capture_output=True, check=True).stdout)
    return p


def snapshot(display, tmp_path, pwfile=None):
    cmd = ["vncsnapshot", "-quiet", "-allowblank"]
    if pwfile:
        cmd += ["-passwd", str(pwfile)]
    return subprocess.run(cmd + [f"127.0.0.1:{display}", str(tmp_path / "shot.jpg")],
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_port_in_use_is_one_line_exit_4():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run(bhyve(f"fbuse-{os.getpid()}", f"tcp=127.0.0.1:{port}"),
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 4, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bhyve: "), r.stderr
    assert str(port) in lines[0] and "in use" in lines[0].lower(), lines[0]
    assert HELLO not in r.stdout


@pytest.mark.parametrize("opts,word", [("w=0", "w=0"), ("h=5000", "h=5000"),
                                       ("bogus=1", "bogus"), ("model=vesa", "model=vesa")])
def test_bad_options_one_line_exit_4(opts, word):
    r = subprocess.run(bhyve(f"fbbad-{os.getpid()}", opts), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 4
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bhyve: ") and word in lines[0], r.stderr


def run_waiting(display, extra=""):
    port = 5900 + display
    p = subprocess.Popen(bhyve(f"fbwait-{os.getpid()}-{display}",
                               f"tcp=127.0.0.1:{port},wait{extra}"),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    wait_listen(port, p)
    return p


def test_wait_holds_the_guest_until_a_client_connects(tmp_path):
    d = vnc_display()
    p = run_waiting(d)
    try:
        # Listening, and the guest (which prints at once) has printed nothing.
        assert not pending_output(p, 3.0)
        assert p.poll() is None
        r = snapshot(d, tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        out, err = p.communicate(timeout=120)
        assert HELLO in out, out + err
        assert p.returncode == 1
    finally:
        if p.poll() is None:
            p.kill()


def test_password_wrong_refused_right_accepted(tmp_path):
    d = vnc_display()
    p = run_waiting(d, ",password=secret")
    try:
        bad = snapshot(d, tmp_path, passwd_file(tmp_path, "wrongpw"))
        assert bad.returncode != 0
        assert not (tmp_path / "shot.jpg").exists()
        assert not pending_output(p, 1.0), "the guest started for a refused client"
        none = snapshot(d, tmp_path)                  # no password at all
        assert none.returncode != 0
        good = snapshot(d, tmp_path, passwd_file(tmp_path, "secret"))
        assert good.returncode == 0, good.stdout + good.stderr
        assert (tmp_path / "shot.jpg").stat().st_size > 0
        out, err = p.communicate(timeout=120)
        assert HELLO in out, out + err
    finally:
        if p.poll() is None:
            p.kill()
