# KVM backend checks.
#   make check-kvm    bhyve on KVM inside a QEMU TCG test VM with nested SVM
#                     (tests/kvm/check-kvm.sh; needs `make guest`; slow: minutes)
# The test VM gets the programs of $(BUILD) with the shared libraries they load.
.PHONY: check-kvm

check-kvm: all guests
	BHYVE_BUILD=$(BUILD) sh tests/kvm/check-kvm.sh build/kvm-check
