/* SPDX-License-Identifier: GPL-2.0 */
/*
 * placement: proof that the end of a device is free for a header_at_end
 * header area. No data moves and no filesystem shrinks, so the area must
 * already be unused: the filesystem there ends before it (libblkid finds the
 * type, we read the size from its superblock), or every byte of it is zero.
 */
#ifndef VXTS_PLACEMENT_H
#define VXTS_PLACEMENT_H

#include <stdint.h>

#include "dev.h"

/* 0 if [area_off, d->size) is provably unused; -ENOSPC (detail says why), -EIO. */
int vxts_place_check_end(struct vxts_dev *d, uint64_t area_off);

/*
 * Positive evidence that the first @size bytes of @d hold plaintext: libblkid
 * finds a filesystem, partition table, LVM PV, swap, RAID member or another
 * known signature there (its TYPE in @what). 0 with evidence; -EMEDIUMTYPE
 * when nothing is found or a signature is an encryption layer (LUKS,
 * BitLocker, ...: @what names it); -EIO. Sets no error detail.
 */
int vxts_place_probe_plain(struct vxts_dev *d, uint64_t size, char *what, size_t len);

/*
 * Scans [from, to) of @d at 4 KiB steps for the vxts header magic: 0 and
 * *at = its offset when found, 1 when not, -errno. Sets no error detail.
 */
int vxts_place_find_magic(struct vxts_dev *d, uint64_t from, uint64_t to, uint64_t *at);

/* Filesystem size from an ext2/3/4 or XFS superblock image; 0 if unknown. */
uint64_t vxts_place_fs_size(const char *type, const uint8_t *sb, size_t len);

#endif
