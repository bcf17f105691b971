#!/bin/sh
# make check-kvm: bhyve's KVM backend inside a test VM under QEMU TCG (-cpu max: nested SVM).
#   $1 = work directory (default build/kvm-check).  Needs build/guest (make guest), the bhyve
#   programs in $BHYVE_BUILD (build/) and the test guests in build/tests/guests.
# Builds an initramfs with the cloud kernel's kvm/kvm_amd/irqbypass modules, busybox, the
# programs with the shared libraries they load (libvncserver and libslirp have no static
# archives in Debian, so the programs cannot be linked statically) and the guests, boots it,
# and counts the "KVMTEST name: pass|fail" lines
# (tests/kvm/kvm-init.sh).  Ends with "check-kvm: N passed, N failed"; exit 1 on any failure.
set -u
OUT=${1:-build/kvm-check}
GUEST=build/guest
PROGS=${BHYVE_BUILD:-build}
TIMEOUT=${KVM_CHECK_TIMEOUT:-1500}
deb=$(ls $GUEST/cache/linux-image-*.deb 2>/dev/null | head -1)
kver=$(cat $GUEST/kernel-version 2>/dev/null)
for f in "$GUEST/vmlinuz" "$GUEST/initrd.img" "$deb" "$PROGS/bhyve" /bin/busybox \
	 build/tests/guests/mb_exit.bin; do
	if [ ! -e "$f" ]; then
		echo "check-kvm: missing $f"
		echo "check-kvm: 0 passed, 1 failed"
		exit 1
	fi
done
rm -rf "$OUT/root" "$OUT/kdeb"
mkdir -p "$OUT/root/bin" "$OUT/root/proc" "$OUT/root/sys" "$OUT/root/dev" \
	 "$OUT/root/lib/modules" "$OUT/root/guest" "$OUT/root/bhyve" "$OUT/kdeb"
dpkg-deb -x "$deb" "$OUT/kdeb"
mdir="$OUT/kdeb/lib/modules/$kver/kernel"
cp "$mdir/virt/lib/irqbypass.ko" "$mdir/arch/x86/kvm/kvm.ko" "$mdir/arch/x86/kvm/kvm-amd.ko" \
   "$OUT/root/lib/modules/"
rm -rf "$OUT/kdeb"
cp /bin/busybox "$OUT/root/bin/busybox"
cp "${KVM_INIT:-tests/kvm/kvm-init.sh}" "$OUT/root/init"
chmod 755 "$OUT/root/init"
cp bench/kvm/bench-kvm.sh "$OUT/root/bench-kvm.sh"
cp "$PROGS/bhyve" "$PROGS/bhyveload" "$PROGS/bhyvectl" "$OUT/root/bhyve/"
# Every shared object the programs load, at the path ldd names (the dynamic loader included).
for lib in $(ldd "$PROGS/bhyve" "$PROGS/bhyveload" "$PROGS/bhyvectl" |
	     awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do
	mkdir -p "$OUT/root$(dirname "$lib")"
	cp -L "$lib" "$OUT/root$lib"
done
cp "$GUEST/vmlinuz" "$GUEST/initrd.img" build/tests/guests/mb_exit.bin \
   build/tests/guests/mb_smp.bin build/tests/guests/rom_hello.bin build/tests/guests/mb_low.bin \
   build/tests/guests/plat_exit.bin build/tests/guests/plat_testdev.bin \
   build/tests/guests/plat_lapictimer.bin "$OUT/root/guest/"
(cd "$OUT/root" && find . | cpio -o -H newc 2>/dev/null) | gzip -1 > "$OUT/initrd.img"
echo "check-kvm: booting the test VM under QEMU TCG (log: $OUT/console.log)"
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp 1 -nographic \
	-no-reboot -kernel "$GUEST/vmlinuz" -initrd "$OUT/initrd.img" \
	-append "console=ttyS0 quiet panic=-1 ${KVM_ONLY:+kvm.only=$KVM_ONLY}" < /dev/null > "$OUT/console.log" 2>&1
# (the first line may follow the firmware's terminal escapes: no ^ anchor)
tr -d '\r' < "$OUT/console.log" | grep -oE "KVM(TEST|INFO) .*" | grep -v DONE
pass=$(tr -d '\r' < "$OUT/console.log" | grep -oE "KVMTEST .*: pass$" | wc -l)
fail=$(tr -d '\r' < "$OUT/console.log" | grep -oE "KVMTEST .*: fail$" | wc -l)
if ! grep -q "KVMTEST-DONE" "$OUT/console.log"; then
	echo "check-kvm: the test VM did not finish (timeout ${TIMEOUT}s)"
	fail=$((fail + 1))
fi
echo "check-kvm: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
