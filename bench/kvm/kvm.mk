# make bench-kvm: boot time to init and VMM memory overhead on KVM (bench/kvm/bench-kvm.sh);
# prints "bench-kvm: skipped (...)" where /dev/kvm cannot run the guest.
.PHONY: bench-kvm
bench-kvm: all
	@sh bench/kvm/bench-kvm.sh $(BUILD)/bhyve build/guest
