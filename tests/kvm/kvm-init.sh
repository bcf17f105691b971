#!/bin/busybox sh
# /init of the check-kvm test VM (tests/kvm/check-kvm.sh): QEMU TCG with -cpu max gives it AMD
# SVM with nested paging; it loads KVM from the cloud kernel's own modules and runs bhyve on
# KVM: the Multiboot exit-status guests, then the default Linux guest (boot to the shell with
# 2 vCPUs, poweroff/reboot/halt exit statuses, SIGTERM, the virtio-blk pattern test).
# Each test prints "KVMTEST <name>: pass|fail"; the host script counts them.  bhyve's own
# output goes to the console too (console.log on the host) to show where a failure stopped.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /tmp
mount -t tmpfs -o size=1500m shm /dev/shm
for m in irqbypass kvm kvm-amd; do insmod /lib/modules/$m.ko || echo "KVMTEST insmod-$m: fail"; done
i=0
while [ ! -e /dev/kvm ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /dev/kvm ] && echo "KVMTEST dev-kvm: pass" || echo "KVMTEST dev-kvm: fail"
B=/bhyve
# kvm.only=a,b on the test VM's command line (KVM_ONLY on the host) runs only those groups:
# mb, plat, linux, sigterm, blk, bench.
ONLY=$(sed -n 's/.*kvm\.only=\([^ ]*\).*/\1/p' /proc/cmdline)
want() { [ -z "$ONLY" ] || case ",$ONLY," in *",$1,"*) true ;; *) false ;; esac; }
MIB=1048576
DISK_MIB=${DISK_MIB:-256}
LINUX="-A -m 256M -H -P -s 0,hostbridge -s 1,lpc -l com1,stdio -o vmm.backend=kvm"

result() {   # name, condition result (0 = pass)
	if [ "$2" = 0 ]; then echo "KVMTEST $1: pass"; else echo "KVMTEST $1: fail"; fi
}

# run NAME SECONDS ARGS...: bhyve ARGS NAME, output to the console and /tmp/out; status in $rc
run() {
	n=$1; t=$2; shift 2
	( timeout -s KILL "$t" $B/bhyve "$@" "$n" < /dev/null; echo $? > /tmp/rc ) 2>&1 | tee /tmp/out
	rc=$(cat /tmp/rc)
}

# mb_exit: each way out and its exit status.
want mb && for t in reset:0 poweroff:1 halt:2 fault:3; do
	how=${t%:*}; want=${t#*:}
	run mb$how 120 -m 32M -l com1,stdio -o vmm.backend=kvm -o loader.kernel=/guest/mb_exit.bin \
		-o loader.cmdline=$how
	grep -q "mb_exit: $how" /tmp/out && [ "$rc" = "$want" ]
	result "mb_exit-$how (exit $rc, want $want)" $?
done

# With hardware virtualization (svm here) and a working /dev/kvm, the default backend is KVM.
if want mb; then
	BHYVE_VERBOSE=1 run mbauto 120 -m 32M -l com1,stdio -o loader.kernel=/guest/mb_exit.bin \
		-o loader.cmdline=poweroff
	grep -q "bhyve: backend kvm" /tmp/out && [ "$rc" = 1 ]
	result "auto-picks-kvm (exit $rc)" $?
fi

# A boot ROM: a read-only memory slot, run from the reset vector.
if want mb; then
	run rom 60 -m 64M -s 0,hostbridge -s 1,lpc -l com1,stdio -l bootrom,/guest/rom_hello.bin \
		-o vmm.backend=kvm
	grep -q "rom: hello from the reset vector" /tmp/out && [ "$rc" = 0 ]
	result "bootrom (exit $rc)" $?
fi

# Two vCPUs through the in-kernel LAPIC's INIT/SIPI.
want mb && run smp 60 -c 2 -m 32M -H -l com1,stdio -o vmm.backend=kvm -o loader.kernel=/guest/mb_smp.bin
want mb && { grep -q "mb_smp: BSP saw the AP" /tmp/out && [ "$rc" = 1 ]
	result "mb_smp (exit $rc)" $?; }

# The platform on KVM: system control port A, pc-testdev, the LAPIC timer's mode rules (the
# in-kernel LAPIC's), a Multiboot kernel loaded below 1 MiB.  Each plat_* guest prints
# "plat: <test> ok|FAIL" and powers off (exit 1) after "plat: done".
plat_ok() {   # the guest reported no failure and finished; exit status $1
	! grep -q "FAIL" /tmp/out && grep -q "plat: done" /tmp/out && [ "$rc" = "$1" ]
}
if want plat; then
	run porta 60 -m 32M -l com1,stdio -o vmm.backend=kvm -o loader.kernel=/guest/plat_exit.bin \
		-o loader.cmdline=mode=a
	grep -q "plat: reset via port 0x92" /tmp/out && ! grep -q "FAIL" /tmp/out && [ "$rc" = 0 ]
	result "plat-port92-reset (exit $rc, want 0)" $?
	run testdev 120 -m 32M -l com1,stdio -l pc-testdev -o vmm.backend=kvm \
		-o loader.kernel=/guest/plat_testdev.bin
	plat_ok 1; result "plat-pc-testdev (exit $rc)" $?
	run dbgexit 60 -m 32M -l com1,stdio -l pc-testdev -o vmm.backend=kvm \
		-o loader.kernel=/guest/plat_exit.bin -o loader.cmdline=mode=d
	grep -q "plat: exit via port 0xF4" /tmp/out && [ "$rc" = 65 ]
	result "plat-pc-testdev-exit-port (exit $rc, want 65)" $?
	run lapictimer 300 -m 32M -l com1,stdio -o vmm.backend=kvm \
		-o loader.kernel=/guest/plat_lapictimer.bin -o loader.cmdline=nomove
	plat_ok 1; result "plat-lapic-timer-modes (exit $rc)" $?
	# KVM's in-kernel LAPIC follows IA32_APIC_BASE too; nothing answers at the old page.
	run lapicmove 300 -m 32M -l com1,stdio -o vmm.backend=kvm \
		-o loader.kernel=/guest/plat_lapictimer.bin
	plat_ok 1; result "plat-lapic-move (exit $rc)" $?
	$B/bhyveload -m 32M -k /guest/mb_low.bin mblow > /dev/null
	run mblow 60 -m 32M -l com1,stdio -o vmm.backend=kvm
	$B/bhyvectl --vm=mblow --destroy > /dev/null 2>&1
	grep -q "mb_low: running at 0x8000" /tmp/out && [ "$rc" = 1 ]
	result "multiboot-below-1mib (exit $rc)" $?
fi

# linux NAME AFTER NCPU: bhyveload + bhyve of the default guest; bhyve.after= picks what the
# guest does after its init marker.  One retry: nested KVM under TCG stalls now and then.
linux() {
	n=$1; after=$2; c=$3
	for try in 1 2; do
		$B/bhyveload -m 256M -k /guest/vmlinuz -i /guest/initrd.img \
			-a "console=ttyS0 bhyve.after=$after" $n$try
		run $n$try 400 $LINUX -c $c
		$B/bhyvectl --vm=$n$try --destroy > /dev/null 2>&1
		grep -q "bhyve-guest: init reached (.*, $c cpus)" /tmp/out && return 0
		echo "check-kvm: $n try $try: no init marker (exit $rc)"
	done
	return 1
}
if want linux; then
	linux lpoweroff poweroff 2; ok=$?
	[ $ok = 0 ] && [ "$rc" = 1 ]; result "linux-2cpu-poweroff (exit $rc, want 1)" $?
	linux lreboot reboot 1; ok=$?
	[ $ok = 0 ] && [ "$rc" = 0 ]; result "linux-reboot (exit $rc, want 0)" $?
	linux lhalt halt 1; ok=$?
	[ $ok = 0 ] && [ "$rc" = 2 ]; result "linux-halt (exit $rc, want 2)" $?
fi

# shell_vm NAME ARGS...: the default guest with its shell on a FIFO we write to (fd 3).
shell_vm() {
	n=$1; shift
	rm -f /tmp/in /tmp/sh.out; mkfifo /tmp/in
	exec 3<> /tmp/in
	$B/bhyve -c 1 $LINUX -o loader.kernel=/guest/vmlinuz -o loader.initrd=/guest/initrd.img \
		-o "loader.cmdline=console=ttyS0" "$@" $n < /tmp/in > /tmp/sh.out 2>&1 &
	pid=$!
	i=0
	while ! grep -q "bhyve-guest: init reached" /tmp/sh.out && [ $i -lt 400 ]; do
		sleep 1; i=$((i + 1))
	done
	# Type only once the shell's prompt is there: it flushes what came before.
	while ! grep -q "^/ # " /tmp/sh.out && [ $i -lt 460 ]; do sleep 1; i=$((i + 1)); done
	sleep 1
	cat /tmp/sh.out
	grep -q "^/ # " /tmp/sh.out
}
# type_line LINE START: send a command line to the guest's shell; if the shell has not echoed
# START (the line's first characters: the echo of a long line wraps) within 60 s, say what the
# VM is doing and send it once more.
type_line() {
	echo "$1" >&3
	i=0
	while ! grep -q "$2" /tmp/sh.out && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
	grep -q "$2" /tmp/sh.out && return 0
	echo "check-kvm: no echo from the guest's shell; bhyve $(kill -0 $pid 2>/dev/null &&
		echo runs || echo is gone); vCPU 0:"
	$B/bhyvectl --vm=$n --get-rip --get-rflags --get-stats 2>&1 | head -20
	tail -c 200 /tmp/sh.out | od -c | tail -5
	echo "$1" >&3
}
shell_wait() {   # seconds: wait for bhyve; status in $rc (137 if it had to be killed)
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt $1 ]; do sleep 1; i=$((i + 1)); done
	kill -0 $pid 2>/dev/null && kill -KILL $pid
	wait $pid; rc=$?
	exec 3>&-
	tail -n 20 /tmp/sh.out
}

# SIGTERM presses the ACPI power button; the guest powers off: exit 1.
if want sigterm; then
	shell_vm sigterm; ok=$?
	kill -TERM $pid
	shell_wait 120
	[ $ok = 0 ] && [ "$rc" = 1 ]; result "linux-sigterm (exit $rc, want 1)" $?
fi

# virtio-blk: the guest writes a pattern over the whole disk (MiB j: 65536 numbered 16-byte
# lines, the first one holding j), syncs and powers off; here the image is compared with the
# same bytes made by the same commands.  Shell builtins make each MiB and one dd writes it:
# forks are dear in a guest nested under TCG.
if want blk; then
	MKPAT="printf '%015d\\n' \$(seq 0 65535) > /tmp/C"
	LOOP="for j in \$(seq 0 $((DISK_MIB - 1))); do exec 5<> /tmp/C; printf '%015d\\n' \$j >&5; exec 5>&-; dd if=/tmp/C of=OUT bs=1M seek=\$j count=1 conv=notrunc 2>/dev/null || echo WRITE-FAILED; done"
	truncate -s ${DISK_MIB}M /dev/shm/disk.img
	shell_vm vblk -s 4,virtio-blk,/dev/shm/disk.img; ok=$?
	type_line "$MKPAT; $(echo "$LOOP" | sed 's|OUT|/dev/vda|'); sync; echo WROTE-ALL; poweroff -f" "printf '%015d"
	shell_wait 1200
	tr -d '\r' < /tmp/sh.out > /tmp/sh.txt
	grep -q "^WROTE-ALL$" /tmp/sh.txt && ! grep -q "^WRITE-FAILED$" /tmp/sh.txt && [ "$rc" = 1 ]
	ok=$?
	eval "$(echo "$MKPAT; $LOOP" | sed 's|OUT|/dev/shm/expect.img|')"
	if cmp /dev/shm/expect.img /dev/shm/disk.img; then bad=0; else bad=1; fi
	echo "check-kvm: virtio-blk image of $DISK_MIB MiB differs from the pattern: $bad"
	[ $ok = 0 ] && [ $bad = 0 ]; result "virtio-blk-pattern-${DISK_MIB}mib (exit $rc)" $?
	rm -f /dev/shm/disk.img /dev/shm/expect.img
fi

# Boot time to init and VMM memory overhead on (nested) KVM: reported, not counted; the boot
# time here is that of KVM nested under TCG, not of KVM on hardware.
if want bench; then
	BENCH_KVM_RUNS=1 BENCH_KVM_TIMEOUT=400 sh /bench-kvm.sh $B/bhyve /guest 2>&1 |
		sed 's/^/KVMINFO /'
fi

echo "KVMTEST-DONE"
poweroff -f
