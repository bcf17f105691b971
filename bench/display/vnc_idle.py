"""bench-vnc: bhyve's CPU use with one idle VNC client on an unchanging screen.

Boots Debian's generic kernel with `-s 29,fbuf,...` (bochs-drm, 1024x768), stops the text
console's cursor blinking so nothing on the screen changes, and measures bhyve's CPU time
(utime + stime from /proc) over BENCH_VNC_SECONDS (default 30) twice: with no client, then
with one TigerVNC viewer (under Xvfb) connected and idle.  The VNC server's own cost is the
difference.  Last line: "bench-vnc: no_client_pct=X one_client_pct=Y vnc_pct=Z" (percent of
one core).
"""
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from guestlib import boot_bhyve  # noqa: E402
from test_display import Xvfb, free_port, wait_shown  # noqa: E402

SECONDS = float(os.environ.get("BENCH_VNC_SECONDS", "30"))
GENERIC = ROOT / "build" / "guest-generic"


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(SECONDS)
    return 100.0 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def main():
    port = free_port()
    g = boot_bhyve(["-s", f"29,fbuf,tcp=127.0.0.1:{port},w=1024,h=768"], "benchvnc",
                   kernel=GENERIC / "vmlinuz", initrd=GENERIC / "initrd.img")
    x = None
    try:
        g.sh("echo 0 > /sys/class/graphics/fbcon/cursor_blink")
        pid = g.child.pid
        idle = measure(pid)
        x = Xvfb()
        x.view(port)
        assert wait_shown(x), "the viewer shows nothing"
        time.sleep(3)                   # the first full frame goes out; then all is quiet
        one = measure(pid)
        print(f"bench-vnc: no_client_pct={idle:.2f} one_client_pct={one:.2f} "
              f"vnc_pct={one - idle:.2f}", flush=True)
    finally:
        if x:
            x.close()
        g.destroy()


if __name__ == "__main__":
    main()
