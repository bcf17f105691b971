"""Network backends and NICs seen from the default Debian guest: slirp (user-mode networking,
no privileges) and TAP interfaces of any name.

slirp: bhyve and bhyveload run as `nobody` (the VM's shared-memory object is then nobody's).
The guest takes an address by DHCP (busybox udhcpc and the initramfs's default script), a
busybox `nc -l` in the guest receives 64 MiB from the host through `hostfwd=tcp::PORT-:22`,
then sends the same bytes back through a second connection; md5 must agree at every end.
No traffic leaves the machine: the host end is 127.0.0.1.  The same with e1000 (Debian's
generic kernel, whose e1000 module drives it).

e1000 on a TAP interface named vm-e1000 (root only) in a private network namespace: MAC,
pings both ways, 64 MiB each way over TCP with md5 on both ends (host peer: guestlib.py).

Errors that need a running bhyve (a host port already taken) are here too; option syntax
errors are in test_cli.py.

Needs `make guest`; skipped without it.
"""
import hashlib
import os
import shutil
import socket
import subprocess

import pytest

from conftest import BOOT_TIMEOUT, INITRD, KERNEL, ROOT, needs_guest
from guestlib import (MIB, NetNs, as_user, boot_bhyve as boot, net_ok, peer_data, peer_result,
                      prog)

pexpect = pytest.importorskip("pexpect")

TIMEOUT = BOOT_TIMEOUT
TCP_MIB = 64
GUEST_PORT = 22
# The e1000 driver is a module of Debian's generic kernel only (`make guest-generic`).
GENERIC = ROOT / os.environ.get("BHYVE_GUEST_GENERIC_DIR", "build/guest-generic")
needs_generic = pytest.mark.skipif(not (GENERIC / "vmlinuz").exists(),
                                   reason="no generic guest: run `make guest-generic`")

pytestmark = needs_guest


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def guest_listen(g, redirect):
    """Start `nc -l -p 22 REDIRECT` in the background of the guest's shell and return once
    the port is listening (polled in the guest, not slept for)."""
    out = g.sh(f"nc -l -p {GUEST_PORT} {redirect} & "
               f"n=0; until netstat -ltn | grep -q ':{GUEST_PORT} '; do usleep 20000; "
               f"n=$((n+1)); [ $n -gt 3000 ] && break; done; netstat -ltn | grep -c ':{GUEST_PORT} '")
    assert out.strip().split()[-1] == "1", out


def dhcp(g, gateway):
    """udhcpc on eth0: the lease's address must be slirp's first DHCP address; libslirp
    offers the gateway (and DNS) only when the guest may reach out (`open`)."""
    out = g.sh("udhcpc -i eth0 -n -q -t 10 -T 3 >/dev/null 2>&1; echo rc=$?; "
               "ip -4 -o addr show dev eth0; ip route", timeout=TIMEOUT)
    assert "rc=0" in out, out
    assert "inet 10.0.2.15/24" in out, out
    assert ("default via 10.0.2.2" in out) == gateway, out


def echo_64mib(g, port):
    """64 MiB host -> guest through the forwarded port, then back; md5 at each end."""
    n = TCP_MIB * MIB
    data = peer_data(n, 4242)
    want = hashlib.md5(data).hexdigest()
    guest_listen(g, "</dev/null >/tmp/r")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
        view = memoryview(data)
        for off in range(0, n, MIB):
            c.sendall(view[off:off + MIB])
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):           # until the guest's nc closes
            pass
    out = g.sh("wait; wc -c </tmp/r; md5sum </tmp/r", timeout=TIMEOUT)
    assert out.split()[:2] == [str(n), want], out
    guest_listen(g, "</tmp/r")
    h, got = hashlib.md5(), 0
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
        while True:
            d = c.recv(1 << 18)
            if not d:
                break
            h.update(d)
            got += len(d)
    g.sh("wait; rm -f /tmp/r", timeout=TIMEOUT)
    assert (got, h.hexdigest()) == (n, want)


def boot_slirp(nic, tag, port, kernel=KERNEL, initrd=INITRD):
    return boot(["-s", f"3,{nic},slirp,hostfwd=tcp::{port}-:{GUEST_PORT}"], tag,
                kernel=kernel, initrd=initrd, user="nobody" if os.geteuid() == 0 else None)


@pytest.fixture(scope="module")
def slirp_vtnet():
    port = free_port()
    g = boot_slirp("virtio-net", "slirp", port)
    g.port = port
    try:
        yield g
        g.child.sendline("poweroff -f")
        assert g.wait_exit() == 1
    finally:
        g.destroy()


def test_slirp_vm_belongs_to_user(slirp_vtnet):
    """The VM object was made by the unprivileged user (when the tests run as root)."""
    if os.geteuid() != 0:
        pytest.skip("runs as a user already")
    st = os.stat(f"/dev/shm/bhyve.{slirp_vtnet.name}")
    assert st.st_uid == 65534, st


def test_slirp_virtio_net_dhcp(slirp_vtnet):
    dhcp(slirp_vtnet, gateway=False)


def test_slirp_virtio_net_echo_64mib(slirp_vtnet):
    echo_64mib(slirp_vtnet, slirp_vtnet.port)


@pytest.fixture(scope="module")
def slirp_e1000():
    port = free_port()
    g = boot_slirp("e1000", "e1k-slirp", port, kernel=GENERIC / "vmlinuz",
                   initrd=GENERIC / "initrd.img")
    g.port = port
    try:
        yield g
        g.child.sendline("poweroff -f")
        assert g.wait_exit() == 1
    finally:
        g.destroy()


@needs_generic
def test_slirp_e1000_dhcp(slirp_e1000):
    out = slirp_e1000.sh("cat /sys/class/net/eth0/device/vendor /sys/class/net/eth0/device/device;"
                         " readlink /sys/class/net/eth0/device/driver")
    assert out.split()[:2] == ["0x8086", "0x100f"] and out.strip().endswith("/e1000"), out
    dhcp(slirp_e1000, gateway=False)


@needs_generic
def test_slirp_e1000_echo_64mib(slirp_e1000):
    echo_64mib(slirp_e1000, slirp_e1000.port)


# ---- e1000 on a TAP interface named vm-e1000 in a private network namespace (root) ----
E1K_MAC = "58:9c:fc:00:10:00"
HOST_IP, GUEST_IP = "10.9.8.1", "10.9.8.2"


@pytest.fixture(scope="module")
def tap_e1000():
    if not net_ok():
        pytest.skip("needs root, /dev/net/tun and ip netns")
    if not (GENERIC / "vmlinuz").exists():
        pytest.skip("no generic guest: run `make guest-generic`")
    ns = NetNs(f"e1k{os.getpid()}")
    g = None
    try:
        g = boot(["-s", f"2,e1000,vm-e1000,mac={E1K_MAC}"], "e1k-tap", prefix=ns.prefix(),
                 kernel=GENERIC / "vmlinuz", initrd=GENERIC / "initrd.img")
        ns.host_addr("vm-e1000", f"{HOST_IP}/24")
        assert "rc=0" in g.sh(f"ip link set eth0 up && ip addr add {GUEST_IP}/24 dev eth0; "
                              f"echo rc=$?")
        g.ns = ns
        yield g
        g.child.sendline("poweroff -f")
        assert g.wait_exit() == 1
    finally:
        if g:
            g.destroy()
        ns.close()


def test_tap_e1000_ping(tap_e1000):
    """Linux's e1000 driver on our 82545EM: the MAC from the EEPROM, pings both ways (one
    larger than a standard frame's worth of fragments)."""
    g = tap_e1000
    out = g.sh("cat /sys/class/net/eth0/address; readlink /sys/class/net/eth0/device/driver")
    assert out.split()[0] == E1K_MAC and out.strip().endswith("/e1000"), out
    out = g.sh(f"ping -c 3 -W 10 {HOST_IP} 2>&1 | tail -2")
    assert "3 packets received" in out, out
    out = g.sh(f"ping -c 2 -W 10 -s 4000 {HOST_IP} 2>&1 | tail -2")
    assert "2 packets received" in out, out
    ping = ["ping"] if shutil.which("ping") else [shutil.which("busybox"), "ping"]
    host = subprocess.run(g.ns.prefix() + ping + ["-c", "2", "-W", "10", GUEST_IP],
                          capture_output=True, text=True)
    assert host.returncode == 0, host.stdout + host.stderr


def test_tap_e1000_tcp_64mib_each_way(tap_e1000):
    """64 MiB host -> guest and back over TCP through e1000 (checksum offload and TSO on the
    guest's transmit side); md5 at both ends of each transfer."""
    g = tap_e1000
    n = TCP_MIB * MIB
    send = g.ns.peer("send", HOST_IP, 5001, n, seed=99)
    out = g.sh(f"nc {HOST_IP} 5001 </dev/null >/tmp/r; echo rc=$?; wc -c </tmp/r; "
               f"md5sum /tmp/r", timeout=TIMEOUT)
    sent = peer_result(send, 60)
    words = out.split()
    assert words[:2] == ["rc=0", str(n)], out
    assert sent == (n, words[2]), (sent, out)
    recv = g.ns.peer("recv", HOST_IP, 5002)
    out = g.sh(f"nc {HOST_IP} 5002 </tmp/r; echo rc=$?", timeout=TIMEOUT)
    got = peer_result(recv, TIMEOUT)
    assert "rc=0" in out, out
    assert got == sent, (got, sent)
    g.sh("rm -f /tmp/r")


def test_slirp_host_port_in_use(tmp_path):
    """A hostfwd port another socket holds: one line naming the rule, exit 4, VM untouched."""
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen(1)
    port = s.getsockname()[1]
    name = f"vt-busy-{os.getpid()}"
    load = subprocess.run([prog("bhyveload"), "-m", "128M", "-k", str(KERNEL), name],
                          capture_output=True, text=True)
    assert load.returncode == 0, load.stderr
    try:
        r = subprocess.run([prog("bhyve"), "-m", "128M", "-s", "0,hostbridge", "-s",
                            f"3,virtio-net,slirp,hostfwd=tcp::{port}-:22", name],
                           capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
        s.close()
    assert r.returncode == 4, r
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("bhyve: "), r.stderr
    assert f"hostfwd=tcp::{port}-:22" in lines[0] and "in use" in lines[0], r.stderr


def test_tap_any_name_unprivileged_error():
    """A TAP interface that does not exist, opened without CAP_NET_ADMIN: one line naming
    the interface, exit 4."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to nobody")
    name = f"vt-notap-{os.getpid()}"
    drop = as_user("nobody")
    load = subprocess.run(drop + [prog("bhyveload"), "-m", "128M", "-k", str(KERNEL), name],
                          capture_output=True, text=True)
    assert load.returncode == 0, load.stderr
    try:
        r = subprocess.run(drop + [prog("bhyve"), "-m", "128M", "-s", "0,hostbridge", "-s",
                                   "3,virtio-net,vm-nosuch0", name],
                           capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
    assert r.returncode == 4, r
    lines = r.stderr.strip().split("\n")
    # Where /dev/net/tun itself is closed to the user (some containers) that is the reason.
    assert len(lines) == 1 and "vm-nosuch0" in lines[0], r
    assert "CAP_NET_ADMIN" in lines[0] or "/dev/net/tun: Permission denied" in lines[0], r
