# Shell functions shared by the UEFI disk-image builders (build-guest-uefi.sh and
# build-guest-uefi-small.sh), sourced by them.  Everything works on plain files: no loop
# devices, no mounts.

# uefi_grub CFG OUT [MODULE...]: a standalone GRUB for x86_64 UEFI at OUT (the removable-media
# boot loader, \EFI\BOOT\BOOTX64.EFI) with CFG embedded as its grub.cfg.  Only the modules a
# direct boot needs are put in its memory disk, which keeps the file small (the firmware
# reads it through the disk driver before anything else runs); MODULEs are added, e.g. ext2.
uefi_grub() {
	_cfg=$1 _out=$2
	shift 2
	_mods="part_gpt fat normal echo test search search_fs_uuid search_fs_file search_label
	       linux boot configfile efi_gop efi_uga video video_fb gzio $*"
	grub-mkstandalone -O x86_64-efi --modules="part_gpt fat $*" \
		--install-modules="$(echo $_mods)" --locales= --fonts= --themes= \
		-o "$_out" "boot/grub/grub.cfg=$_cfg"
}

# uefi_esp IMG MIB VOLID BOOTX64 [FILE...]: an EFI system partition image of MIB MiB (FAT32,
# volume id VOLID) with BOOTX64 at \EFI\BOOT\BOOTX64.EFI and each FILE in its root directory.
uefi_esp() {
	_img=$1 _mib=$2 _volid=$3 _loader=$4
	shift 4
	rm -f "$_img"
	truncate -s "${_mib}M" "$_img"
	mkfs.vfat -F 32 -S 512 -s 1 -n BHYVE-ESP -i "$_volid" "$_img" >/dev/null
	mmd -i "$_img" ::/EFI ::/EFI/BOOT
	mcopy -i "$_img" "$_loader" ::/EFI/BOOT/BOOTX64.EFI
	for _f in "$@"; do
		mcopy -i "$_img" "$_f" "::/$(basename "$_f")"
	done
}

# uefi_disk OUT DISK_GUID ESP_PARTUUID ESP_IMG [ROOT_PARTUUID ROOT_IMG]: a raw GPT disk at OUT
# holding ESP_IMG as partition 1 (type EFI system) and ROOT_IMG, if given, as partition 2
# (type "Linux root (x86-64)" of the Discoverable Partitions Specification).  Partitions are
# 1 MiB aligned; the image is sparse where the partition images are.
uefi_disk() {
	_out=$1 _guid=$2 _espuuid=$3 _esp=$4 _rootuuid=${5:-} _root=${6:-}
	_espsec=$(($(stat -c %s "$_esp") / 512))
	_rootsec=0
	[ -z "$_root" ] || _rootsec=$(($(stat -c %s "$_root") / 512))
	rm -f "$_out"
	# 1 MiB before the first partition and 1 MiB after the last one (the backup GPT).
	truncate -s $(((2048 + _espsec + _rootsec + 2048) * 512)) "$_out"
	{
		echo "label: gpt"
		echo "label-id: $_guid"
		echo "unit: sectors"
		echo "first-lba: 2048"
		echo "start=2048, size=$_espsec, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$_espuuid, name=\"EFI system partition\""
		[ -z "$_root" ] || echo "start=$((2048 + _espsec)), size=$_rootsec, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$_rootuuid, name=\"root\""
	} | sfdisk --quiet "$_out"
	dd if="$_esp" of="$_out" bs=1M seek=1 conv=notrunc,sparse status=none
	# Both sizes are whole MiB, so the root partition starts on a MiB boundary.
	[ -z "$_root" ] || dd if="$_root" of="$_out" bs=1M seek=$(((2048 + _espsec) / 2048)) \
		conv=notrunc,sparse status=none
}
