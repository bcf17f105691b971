# KVM backend checks (helper kvm).
#   make check-kvm    bhyve on KVM inside a QEMU TCG test VM with nested SVM
#                     (tests/kvm/check-kvm.sh; needs `make guest`; slow: minutes)
# The statically linked programs for the test VM are built into build/static/.
.PHONY: check-kvm kvm-static
kvm-static:
	$(MAKE) BUILD=build/static LDFLAGS=-static all

check-kvm: kvm-static guests
	sh tests/kvm/check-kvm.sh build/kvm-check
