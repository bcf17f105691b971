#!/bin/sh
# make bench-kvm: on KVM, the time from starting bhyve to the default guest's init marker, and
# bhyve's own memory overhead while the guest sits at its shell: the process's resident memory
# minus the resident part of guest RAM (the pages the guest has touched).  For comparison with
# Firecracker's published figures (125 ms to init, 5 MiB of VMM overhead).
#   $1 = bhyve, $2 = guest dir (vmlinuz, initrd.img); BENCH_KVM_RUNS (default 3) boots, each
#   given BENCH_KVM_TIMEOUT seconds (default 120) to reach init; BENCH_KVM_BACKEND=soft measures
#   the software CPU the same way.
# Plain POSIX sh + /proc: check-kvm runs it inside its nested test VM with busybox too.
# Last line: "bench-kvm: boot_ms=X overhead_mib=Y runs=N (firecracker: boot_ms=125 overhead_mib=5)"
# or "bench-kvm: skipped (why)".
BHYVE=${1:-build/bhyve}
GUEST=${2:-build/guest}
RUNS=${BENCH_KVM_RUNS:-3}
LIMIT_MS=$((${BENCH_KVM_TIMEOUT:-120} * 1000))
T=${TMPDIR:-/tmp}/bench-kvm.$$
if [ ! -r "$GUEST/vmlinuz" ] || [ ! -r "$GUEST/initrd.img" ]; then
	echo "bench-kvm: skipped (no guest in $GUEST: run make guest)"; exit 0
fi
if [ "${BENCH_KVM_BACKEND:-kvm}" = kvm ] && { ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; }; then
	echo "bench-kvm: skipped (no usable /dev/kvm here)"; exit 0
fi
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT

ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# One boot: prints "BOOT_MS OVERHEAD_KIB", or nothing if the guest did not reach its init.
one() {
	n=benchkvm$$x$1
	rm -f "$T/in" "$T/out"; mkfifo "$T/in"
	exec 3<> "$T/in"
	t0=$(ms)
	"$BHYVE" -A -H -P -c 1 -m 256M -s 0,hostbridge -s 1,lpc -l com1,stdio \
		-o vmm.backend=${BENCH_KVM_BACKEND:-kvm} -o destroy_on_poweroff=true -o "loader.kernel=$GUEST/vmlinuz" \
		-o "loader.initrd=$GUEST/initrd.img" -o "loader.cmdline=console=ttyS0 quiet" \
		"$n" < "$T/in" > "$T/out" 2>&1 &
	pid=$!
	while ! grep -q "bhyve-guest: init reached" "$T/out" 2>/dev/null; do
		kill -0 $pid 2>/dev/null || break
		[ $(($(ms) - t0)) -gt $LIMIT_MS ] && break
		sleep 0.005
	done
	t1=$(ms)
	if grep -q "bhyve-guest: init reached" "$T/out"; then
		sleep 1   # let the shell start: the figure is for an idle guest at its prompt
		rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status)
		guest=$(awk -v n="bhyve.$n" '$0 ~ /^[0-9a-f]+-[0-9a-f]+ / { m = index($0, n) > 0 }
			m && /^Rss:/ { s += $2 } END { print s + 0 }' /proc/$pid/smaps)
		echo "$((t1 - t0)) $((rss - guest))"
	fi
	kill -TERM $pid 2>/dev/null
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	exec 3>&-
	"$(dirname "$BHYVE")/bhyvectl" --vm="$n" --destroy > /dev/null 2>&1
}

tot_ms=0; tot_kib=0; ok=0
for r in $(seq 1 "$RUNS"); do
	res=$(one "$r")
	if [ -z "$res" ]; then
		echo "bench-kvm: run $r: the guest did not reach its init on KVM; bhyve said:"
		tail -n 5 "$T/out"
		continue
	fi
	set -- $res
	echo "bench-kvm: run $r: boot_ms=$1 overhead_kib=$2"
	tot_ms=$((tot_ms + $1)); tot_kib=$((tot_kib + $2)); ok=$((ok + 1))
done
if [ $ok -eq 0 ]; then
	echo "bench-kvm: skipped (KVM here cannot boot the guest)"; exit 0
fi
awk -v m=$tot_ms -v k=$tot_kib -v n=$ok 'BEGIN { printf "bench-kvm: boot_ms=%d overhead_mib=%.1f runs=%d (firecracker: boot_ms=125 overhead_mib=5)\n", m / n, k / n / 1024, n }'
