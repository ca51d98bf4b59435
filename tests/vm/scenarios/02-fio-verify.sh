#!/bin/sh
# fio crc32c verify on vxts: four jobs, iodepth 32, mixed block sizes,
# O_DIRECT, random writes then a read-verify pass; once with 4096-byte units
# (io_uring) and once with 512-byte units (libaio). Afterwards dm-crypt reads
# the same device with fio --verify_only: vxts wrote what dm-crypt expects.
. /vxts/guest-lib.sh
need_vxts

key_new key
hex=$(key_hex key)
len=131072		# all of ram0: 4 jobs x 12 MiB at 16 MiB strides

job() { # <file> <engine> <bssplit> <blockalign>
	cat > "$1" <<JOB
[global]
filename=/dev/mapper/vx
direct=1
ioengine=$2
iodepth=32
numjobs=4
size=12m
offset_increment=16m
rw=randwrite
bssplit=$3
blockalign=$4
verify=crc32c
verify_fatal=1
verify_dump=0
group_reporting=1
[verify]
JOB
}

one_run() { # <unit> <engine> <bssplit> <opts...>
	local unit=$1 engine=$2 split=$3
	shift 3
	step "unit $unit, $engine, bssplit $split"
	dev_zero /dev/ram0
	tbl "$VX" "$hex" 0 /dev/ram0 0 "$len" "$@" > vx.tbl
	dm_up vx vx.tbl
	[ "$(blockdev --getss /dev/mapper/vx)" -eq "$unit" ] ||
		fail "logical block size $(blockdev --getss /dev/mapper/vx), expected $unit"
	job j.fio "$engine" "$split" "$unit"
	run_fio j.fio
	dm_down vx
	tbl crypt "$hex" 0 /dev/ram0 0 "$len" "$@" > vx.tbl
	dm_up vx vx.tbl
	run_fio j.fio --verify_only
	dm_down vx
}

one_run 4096 io_uring 4k/50:16k/25:64k/15:128k/10 sector_size:4096
one_run 512 libaio 512/20:4k/40:12k/20:64k/20 sector_size:512
exit 0
